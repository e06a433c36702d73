// Package procwatch carries, in a context, who must know of the process
// groups that the work of that context starts: the server's group guard,
// which kills them should the server die or be frozen past its lease.
// It takes the standard library only, so that any package that starts
// programs (internal/mediatool) can tell of them.
package procwatch

import "context"

// Watch is told of a process group as soon as it exists, and returns the
// call to make once the group is gone.
type Watch func(pgid int) (forget func())

type key struct{}

// With returns ctx carrying w.
func With(ctx context.Context, w Watch) context.Context {
	return context.WithValue(ctx, key{}, w)
}

// From returns the Watch ctx carries, or nil.
func From(ctx context.Context) Watch {
	w, _ := ctx.Value(key{}).(Watch)
	return w
}
