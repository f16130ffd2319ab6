package neural

import (
	"fmt"
	"math"
)

// Activation names the element-wise nonlinearity φ of a layer.
type Activation string

// The activations, with the names and definitions of torch.nn.
const (
	Linear   Activation = "linear"   // φ(a) = a
	Tanh     Activation = "tanh"     // φ(a) = tanh a
	ReLU     Activation = "relu"     // φ(a) = max(a, 0), φ'(0) = 0
	GELU     Activation = "gelu"     // φ(a) = a Φ(a), Φ the standard normal CDF (exact, not the tanh approximation)
	Softplus Activation = "softplus" // φ(a) = log(1 + eᵃ)
)

// Activations lists the known activations in a stable order.
var Activations = []Activation{Linear, Tanh, ReLU, GELU, Softplus}

func (a Activation) check() error {
	switch a {
	case Linear, Tanh, ReLU, GELU, Softplus:
		return nil
	}
	return fmt.Errorf("unknown activation %q (want one of %v)", a, Activations)
}

// apply sets dst = φ(pre); dst may be pre.
func (a Activation) apply(dst, pre []float64) {
	dst = dst[:len(pre)]
	switch a {
	case Linear:
		copy(dst, pre)
	case Tanh:
		for i, v := range pre {
			dst[i] = math.Tanh(v)
		}
	case ReLU:
		for i, v := range pre {
			if v > 0 {
				dst[i] = v
			} else {
				dst[i] = 0
			}
		}
	case GELU:
		for i, v := range pre {
			dst[i] = v * normCDF(v)
		}
	case Softplus:
		for i, v := range pre {
			dst[i] = softplus(v)
		}
	default:
		panic("neural: unknown activation " + string(a))
	}
}

// mulDeriv sets g[i] *= φ'(pre[i]), with post = φ(pre).
func (a Activation) mulDeriv(g, pre, post []float64) {
	g = g[:len(pre)]
	switch a {
	case Linear:
	case Tanh:
		post = post[:len(pre)]
		for i, y := range post {
			g[i] *= 1 - y*y
		}
	case ReLU:
		for i, v := range pre {
			if !(v > 0) {
				g[i] = 0
			}
		}
	case GELU:
		for i, v := range pre {
			g[i] *= normCDF(v) + v*math.Exp(-0.5*v*v)/math.Sqrt(2*math.Pi)
		}
	case Softplus:
		for i, v := range pre {
			g[i] *= sigmoid(v)
		}
	default:
		panic("neural: unknown activation " + string(a))
	}
}

func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
