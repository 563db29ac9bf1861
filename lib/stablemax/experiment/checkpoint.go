package experiment

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
)

// savedRun is what a checkpoint holds beside the training state (as the
// trainer's extra data, written in the same file): the metric curve up to
// the checkpoint and the training time so far, so that a resumed or cached
// run reports the whole curve and its real ms/epoch. gob keeps NaN and ±Inf,
// which a diverging run produces.
type savedRun struct {
	Curve         []Point
	TrainMs       float64
	TrainedEpochs int
}

func (s savedRun) encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		return nil, fmt.Errorf("grokking: encoding the run: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeSavedRun(data []byte) (savedRun, error) {
	var s savedRun
	if len(data) == 0 {
		return s, errors.New("the checkpoint holds no metric curve")
	}
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&s); err != nil {
		return s, fmt.Errorf("the metric curve is unreadable: %w", err)
	}
	return s, nil
}
