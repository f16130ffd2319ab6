package training

import (
	"path/filepath"
	"testing"
)

func TestTrainExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../examples/*.train.yaml")
	external, err2 := filepath.Glob("../examples/external/*.train.yaml")
	files = append(files, external...)
	if err != nil || err2 != nil || len(files) == 0 || len(external) == 0 {
		t.Fatalf("no training examples: %v, %v", err, err2)
	}
	for _, f := range files {
		if _, err := LoadTrain(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
