package sqlite

import "github.com/plexbutler/butler"

// DB keeps the media library's index too (migration 006).
var _ butler.MediaIndex = (*DB)(nil)
