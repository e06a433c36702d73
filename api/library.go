package api

import (
	"log/slog"

	"github.com/plexbutler/butler"
)

// libraryRoutes adds the routes that read the media index to the
// protected group; with no index there are none.
func libraryRoutes(ix butler.MediaIndex, log *slog.Logger, prot *routeGroup) {
	if ix == nil {
		return
	}
	_ = log
}
