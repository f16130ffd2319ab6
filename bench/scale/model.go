package scale

import (
	"errors"
	"fmt"
)

// FanOutModel predicts the wall time of one cycle whose forecast and LETKF
// analysis are split into blocks, each a Temporal activity on one of W
// workers (one core each), from constants measured on this machine:
//
//	T(W) = C/W  +  S  +  2(L + k·d)
//
// with C = nx·(N·f + a) the compute (f: forecast CPU per member and grid
// point, a: analysis CPU per grid point), S = 3·N·nx·8 B / B_disk the
// ensemble written by the forecast, read by the block analyses and written
// again, through one shared disk, and two rounds of activities (forecast,
// analysis) each costing the latency L of one activity plus k·d to
// dispatch k = W blocks. The halo a block reads beyond its own points
// (2·2c grid points, c the Gaspari–Cohn half-width) is added to the I/O.
// Speed-up is T(1)/T(W); it stops growing where C/W falls to the serial
// part S + 2(L + W·d).
type FanOutModel struct {
	Nx      int     `json:"nx"`
	Members int     `json:"members"`
	Halo    int     `json:"halo"` // grid points read on each side of a block
	F       float64 `json:"forecast_cpu_s_per_element"`
	A       float64 `json:"analysis_cpu_s_per_point"`
	DiskBps float64 `json:"disk_bytes_per_s"`
	L       float64 `json:"activity_latency_s"`
	D       float64 `json:"dispatch_s_per_activity"`
}

// Prediction is the model's cycle time on some workers.
type Prediction struct {
	Workers       int     `json:"workers"`
	Compute       float64 `json:"compute_s"`
	IO            float64 `json:"io_s"`
	Orchestration float64 `json:"orchestration_s"`
	Total         float64 `json:"total_s"`
	SpeedUp       float64 `json:"speedup"`
	Efficiency    float64 `json:"efficiency"` // SpeedUp / Workers
}

// ModelFrom takes the constants from a report: compute per point from its
// largest cycle (CPU time, so that other load on the machine does not
// count), the disk from the slower of the Arrow write and the raw write,
// the orchestration from the dev-server measurement.
func ModelFrom(rep Report, nx int) (FanOutModel, error) {
	if len(rep.Cycles) == 0 || rep.Disk == nil || rep.Orchestration == nil {
		return FanOutModel{}, errors.New("scale: model: the report needs cycles, the disk speed and the orchestration cost")
	}
	c := rep.Cycles[len(rep.Cycles)-1]
	disk := min(c.WriteMBps, rep.Disk.GoWriteMBps) * 1e6
	m := FanOutModel{
		Nx: nx, Members: c.Members,
		Halo:    40, // 2·GCFactor·radius rounded up for radius 10
		F:       c.Stage("forecast").CPU / float64(c.Members*c.Nx),
		A:       c.Stage("analysis").CPU / float64(c.Nx),
		DiskBps: disk,
		L:       rep.Orchestration.SequentialMillis / 1e3,
		D:       rep.Orchestration.FanOutMillis / 1e3,
	}
	if !(m.F > 0) || !(m.A > 0) || !(m.DiskBps > 0) || !(m.L > 0) || !(m.D > 0) {
		return m, fmt.Errorf("scale: model: constants must be positive, got %+v", m)
	}
	return m, nil
}

// Predict returns the model's cycle time on w workers.
func (m FanOutModel) Predict(w int) Prediction {
	nx, N := float64(m.Nx), float64(m.Members)
	compute := nx * (N*m.F + m.A)
	ensemble := N * nx * 8
	halo := float64(w) * 2 * float64(m.Halo) * N * 8
	p := Prediction{
		Workers:       w,
		Compute:       compute / float64(w),
		IO:            (3*ensemble + halo) / m.DiskBps,
		Orchestration: 2 * (m.L + float64(w)*m.D),
	}
	p.Total = p.Compute + p.IO + p.Orchestration
	one := compute + (3*ensemble+2*float64(m.Halo)*N*8)/m.DiskBps + 2*(m.L+m.D)
	p.SpeedUp = one / p.Total
	p.Efficiency = p.SpeedUp / float64(w)
	return p
}

// BestWorkers is the worker count, up to limit, with the shortest
// predicted cycle: beyond it, dispatching more blocks costs more than it
// saves (dT/dW = -C/W² + 2d = 0, W = √(C/2d)).
func (m FanOutModel) BestWorkers(limit int) int {
	best := 1
	for w := 2; w <= limit; w++ {
		if m.Predict(w).Total < m.Predict(best).Total {
			best = w
		}
	}
	return best
}
