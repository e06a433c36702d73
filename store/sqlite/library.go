package sqlite

import "github.com/plexbutler/butler"

// DB keeps the media library's index too (migration 006), with the items'
// sidecar files (migration 007).
var (
	_ butler.MediaIndex   = (*DB)(nil)
	_ butler.SidecarIndex = (*DB)(nil)
	_ butler.OutputIndex  = (*DB)(nil)
)
