package training

import (
	"path/filepath"
	"testing"
)

func TestTrainExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../examples/*.train.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no training examples: %v", err)
	}
	for _, f := range files {
		if _, err := LoadTrain(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
