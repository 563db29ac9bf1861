package experiment

// MsPerStep is the mean time of a training step over runs (their timed
// steps pooled), in milliseconds.
func MsPerStep(runs []*Run) float64 {
	var s, n float64
	for _, r := range runs {
		s, n = s+r.TimedSeconds, n+float64(r.TimedSteps)
	}
	return 1000 * s / n
}
