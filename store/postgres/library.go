package postgres

import "github.com/plexbutler/butler"

// DB keeps the media library's index too (migration 005), with the items'
// sidecar files (migration 006).
var (
	_ butler.MediaIndex   = (*DB)(nil)
	_ butler.SidecarIndex = (*DB)(nil)
	_ butler.OutputIndex  = (*DB)(nil)
)
