package postgres

import "github.com/plexbutler/butler"

// DB keeps the media library's index too (migration 005).
var _ butler.MediaIndex = (*DB)(nil)
