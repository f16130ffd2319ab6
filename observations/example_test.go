package observations_test

import (
	"fmt"

	"github.com/latentda/latentda/observations"
)

// Observe every third component of a 10-dimensional state, starting at
// index 1.
func ExampleNewEveryKth() {
	op, err := observations.NewEveryKth(10, 3, 1)
	if err != nil {
		panic(err)
	}
	x := []float64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90}
	y := make([]float64, op.OutDim())
	op.Apply(y, x)
	fmt.Println(op.Name(), op.InDim(), "->", op.OutDim())
	fmt.Println("positions:", op.Positions())
	fmt.Println("y:", y)
	fmt.Println("linear:", observations.Linear(op))

	_, err = observations.NewEveryKth(10, 0, 0)
	fmt.Println(err)
	// Output:
	// every-3+1 10 -> 3
	// positions: [1 4 7]
	// y: [10 40 70]
	// linear: true
	// observations: every-kth: stride k = 0, must be >= 1
}
