package experiment

import (
	"encoding/json"

	"github.com/gorepro/gorepro/lib/notebook"
)

// A diverged run's last point has a non-finite training loss, and a task
// without a validation split gives NaN validation accuracies: JSON has no
// NaN or infinities, so a Point writes those as the strings "NaN", "+Inf"
// and "-Inf" (the run cache and checkpoints store runs as JSON).

// jsonFloat is a float64 whose non-finite values are JSON strings.
type jsonFloat = notebook.Float

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
