package colbert

import (
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func graphShape() shapes.Shape { return shapes.Make(dtypes.Float32, 2, 3, 6) }
