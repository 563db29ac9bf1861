package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// A diverged run's last point has a non-finite training loss, and a task
// without a validation split gives NaN validation accuracies: JSON has no
// NaN or infinities, so a Point writes those as the strings "NaN", "+Inf"
// and "-Inf" (the run cache and checkpoints store runs as JSON).

// jsonFloat is a float64 whose non-finite values are JSON strings.
type jsonFloat float64

// MarshalJSON implements json.Marshaler.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *jsonFloat) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(math.IsNaN(v) || math.IsInf(v, 0)) {
			return fmt.Errorf("experiment: %q is not a number", s)
		}
		*f = jsonFloat(v)
		return nil
	}
	var v float64
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// pointJSON is Point as written.
type pointJSON struct {
	Epoch                      int
	TrainLoss, ValAcc, TestAcc jsonFloat
}

// MarshalJSON implements json.Marshaler: non-finite values as strings.
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal(pointJSON{p.Epoch, jsonFloat(p.TrainLoss), jsonFloat(p.ValAcc), jsonFloat(p.TestAcc)})
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Point) UnmarshalJSON(data []byte) error {
	var q pointJSON
	if err := json.Unmarshal(data, &q); err != nil {
		return err
	}
	*p = Point{q.Epoch, float64(q.TrainLoss), float64(q.ValAcc), float64(q.TestAcc)}
	return nil
}
