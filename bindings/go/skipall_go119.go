//go:build !go1.20

package procroot

import "errors"

// SkipAll, returned by a WalkDir function, ends the walk without error (Go 1.20 has
// fs.SkipAll, which this is there; before it, this value).
var SkipAll = errors.New("skip everything and stop the walk")
