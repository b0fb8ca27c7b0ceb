//go:build go1.20

package procroot

import "io/fs"

// SkipAll, returned by a WalkDir function, ends the walk without error: fs.SkipAll itself.
var SkipAll = fs.SkipAll
