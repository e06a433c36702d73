package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/client"
	"github.com/plexbutler/butler/internal/config"
)

// knownTaskNames are the task names Butler knows (Plex's), whether or not a
// server binds an action to them.
func knownTaskNames() []string {
	var names []string
	for _, t := range butler.DefaultCatalog() {
		names = append(names, string(t.Name))
	}
	return names
}

// taskNotFound turns the server's 404 for a task into a message that says
// what to do: for a name it does not offer, that `butler tasks` lists the
// offered ones and which is nearest; for a name Butler knows but this server
// binds no action to, that its config file can bind one. When the task is
// offered (a 404 for nothing to stop) the server's own message stands. err
// is returned as cn.fail does when the list cannot be read.
func taskNotFound(ctx context.Context, cn *conn, name client.TaskName, err error) error {
	if !errors.Is(err, client.ErrNotFound) {
		return cn.fail(err)
	}
	res, lerr := cn.GetButlerTasks(ctx)
	if lerr != nil {
		return cn.fail(err)
	}
	var offered []string
	for _, t := range res.Tasks {
		offered = append(offered, t.Name)
	}
	if slices.Contains(offered, string(name)) {
		return cn.fail(err)
	}
	return &exitError{1, unknownTaskError(string(name), offered)}
}

// unknownTaskError says that name is not among the offered tasks, and what
// to do.
func unknownTaskError(name string, offered []string) error {
	known := knownTaskNames()
	if slices.Contains(known, name) {
		return fmt.Errorf("task %s does nothing on this server: no action is bound to it; bind it to a command or an HTTP call under tasks: in the server's config file (docs/tasks.md), or run one of the tasks `butler tasks` lists", name)
	}
	msg := fmt.Sprintf("no task named %q", name)
	if s := nearestName(name, offered); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	} else if s := nearestName(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %s? this server binds no action to it: its config file can, see docs/tasks.md)", s)
	}
	return errors.New(msg + "; task names are case-sensitive, `butler tasks` lists the tasks this server offers")
}

// nearestName returns the name of names closest to name: the same but for
// case, else within an edit distance of 3; "" when none is that close.
func nearestName(name string, names []string) string {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return n
		}
	}
	best, bestD := "", 4
	for _, n := range names {
		if d := config.EditDistance(strings.ToLower(name), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}
