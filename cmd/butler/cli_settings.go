package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/client"
)

func (c *cli) settingsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "List the server's settings; get or set one",
		Long: `List the server's settings (GET /:/prefs): id, value, default and label. A
value that differs from its default is marked with *; one the server's config
file fixes (it cannot be changed through the API), with (fixed).`,
		Example: `  butler settings
  butler settings get ButlerStartHour
  butler settings set ButlerStartHour=1 ButlerEndHour=4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cn, err := c.connect()
			if err != nil {
				return err
			}
			list, err := cn.Settings(ctxOf(cmd))
			if err != nil {
				return cn.fail(err)
			}
			out := cmd.OutOrStdout()
			if cn.json {
				return printJSON(out, list)
			}
			t := &table{header: []string{"ID", "VALUE", "DEFAULT", "LABEL"}}
			for _, s := range list {
				v := cell{text: orDash(s.Value.Text)}
				switch {
				case bool(s.Fixed):
					// The server's config file fixes it: not changeable here.
					v.text += " (fixed)"
				case s.Value.Text != s.Default.Text:
					v = cell{text: v.text + " *", style: styleYellow}
				}
				t.add(plain(s.ID), v, plain(orDash(s.Default.Text)), plain(s.Label))
			}
			return t.write(out, newPainter(out, c.getenv))
		},
	}
	get := &cobra.Command{
		Use:               "get ID",
		Short:             "Print one setting's value",
		Args:              nArgs(1, 1),
		ValidArgsFunction: c.completeSettings(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			cn, err := c.connect()
			if err != nil {
				return err
			}
			s, err := cn.Setting(ctxOf(cmd), args[0])
			if errors.Is(err, client.ErrNotFound) {
				var ce *client.Error
				if errors.As(err, &ce) {
					return &exitError{1, fmt.Errorf("%s (setting ids are case-sensitive; `butler settings` lists the settings)", ce.Message)}
				}
			}
			if err != nil {
				return cn.fail(err)
			}
			if cn.json {
				return printJSON(cmd.OutOrStdout(), s)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), s.Value.Text)
			return err
		},
	}
	set := &cobra.Command{
		Use:   "set ID=VALUE...",
		Short: "Change settings, all or nothing",
		Long: `Change one or more settings at once (PUT /:/prefs). When any id is unknown or
any value invalid, nothing is changed. Bools take true/false or 1/0.`,
		Args:              nArgs(1, -1),
		ValidArgsFunction: c.completeSettings(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			values := map[string]string{}
			for _, a := range args {
				id, v, ok := strings.Cut(a, "=")
				if !ok || id == "" {
					return usageErr("%q: want ID=VALUE, such as ButlerStartHour=2", a)
				}
				if _, dup := values[id]; dup {
					return usageErr("setting %s is given twice", id)
				}
				values[id] = v
			}
			cn, err := c.connect()
			if err != nil {
				return err
			}
			if err := cn.SetSettings(ctxOf(cmd), values); err != nil {
				if errors.Is(err, client.ErrBadRequest) {
					var ce *client.Error
					errors.As(err, &ce)
					return &exitError{1, fmt.Errorf("%s (`butler settings` lists the settings)", ce.Message)}
				}
				return cn.fail(err)
			}
			if cn.json {
				return printJSON(cmd.OutOrStdout(), values)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "set", strings.Join(args, " "))
			return err
		},
	}
	cmd.AddCommand(get, set)
	c.clientFlags(cmd)
	return cmd
}

// completeSettings completes setting ids from the server, with "=" after
// them for `settings set`.
func (c *cli) completeSettings(assign bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if (!assign && len(args) > 0) || strings.Contains(toComplete, "=") {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cn, err := c.connect()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx, cancel := context.WithTimeout(ctxOf(cmd), 5*time.Second)
		defer cancel()
		list, err := cn.Settings(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, s := range list {
			if strings.HasPrefix(s.ID, toComplete) {
				if assign {
					out = append(out, cobra.CompletionWithDesc(s.ID+"=", s.Label))
				} else {
					out = append(out, cobra.CompletionWithDesc(s.ID, s.Label))
				}
			}
		}
		d := cobra.ShellCompDirectiveNoFileComp
		if assign {
			d |= cobra.ShellCompDirectiveNoSpace
		}
		return out, d
	}
}

func (c *cli) activitiesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "activities",
		Short: "List the runs that are running now",
		Example: `  butler activities
  butler activities cancel 0b7c5a8e-5d0e-4c1a-9f1e-3f4b2a1c9d7e`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cn, err := c.connect()
			if err != nil {
				return err
			}
			list, err := cn.Activities(ctxOf(cmd))
			if err != nil {
				return cn.fail(err)
			}
			out := cmd.OutOrStdout()
			if cn.json {
				return printJSON(out, list)
			}
			if len(list) == 0 {
				_, err := fmt.Fprintln(out, "no task is running")
				return err
			}
			t := &table{header: []string{"UUID", "TASK", "RUN", "TRIGGER", "PROGRESS", "STEP"}}
			for _, a := range list {
				task, run, trigger := a.Title, "-", "-"
				if a.Context != nil {
					task, run, trigger = a.Context.TaskName, strconv.FormatInt(a.Context.RunID, 10), a.Context.Trigger
				}
				t.add(plain(a.UUID), plain(task), plain(run), plain(trigger), plain(orDash(percent(a.Progress))), plain(orDash(a.Subtitle)))
			}
			return t.write(out, newPainter(out, c.getenv))
		},
	}
	cancel := &cobra.Command{
		Use:   "cancel UUID",
		Short: "Stop the run behind an activity",
		Args:  nArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The server takes the canonical form only, 36 characters
			// with hyphens; uuid.Parse alone takes others too.
			if _, err := uuid.Parse(args[0]); err != nil || len(args[0]) != 36 {
				return usageErr("activity %q: want its UUID, as butler activities lists them", args[0])
			}
			cn, err := c.connect()
			if err != nil {
				return err
			}
			res, err := cn.CancelActivity(ctxOf(cmd), args[0])
			if err != nil {
				return cn.fail(err)
			}
			if cn.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", args[0], res.Outcome)
			return err
		},
	}
	cmd.AddCommand(cancel)
	c.clientFlags(cmd)
	return cmd
}

// percent shows a progress; "" when the run gives none (-1).
func percent(p int) string {
	if p < 0 {
		return ""
	}
	return strconv.Itoa(p) + "%"
}

// watchLine is one event as `butler watch` prints it.
func watchLine(ev client.Event, p painter) string {
	what := ""
	switch ev.Type {
	case client.EventStarted:
		if ev.Activity.Context != nil {
			what = "by " + ev.Activity.Context.Trigger
		}
	case client.EventUpdated:
		what = strings.TrimSpace(percent(ev.Activity.Progress) + " " + ev.Activity.Subtitle)
	case client.EventEnded:
		what = p.paint(outcomeStyle(ev.Outcome()), ev.Outcome())
	}
	return fmt.Sprintf("%s  %-7s  %s  run %d  %s", time.Now().Format(time.TimeOnly), ev.Type, ev.Task(), ev.RunID(), what)
}

func (c *cli) watchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print the runs' events as they happen, until Ctrl-C",
		Long: `Print every run's events as they happen — started, updated (progress and
step), ended (outcome) — until Ctrl-C. With --output json, one JSON object
per line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cn, err := c.connect()
			if err != nil {
				return err
			}
			ctx := ctxOf(cmd)
			events, watchErr := cn.Watch(ctx)
			if err := watchErr(); err != nil { // it did not connect
				return cn.fail(err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "watching the runs of %s; Ctrl-C to stop\n", cn.url)
			out := cmd.OutOrStdout()
			p := newPainter(out, c.getenv)
			for ev := range events {
				if cn.json {
					if err := printCompact(out, apitype.ActivityNotification{Event: ev.Type, UUID: ev.UUID, Activity: ev.Activity}); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintln(out, watchLine(ev, p))
			}
			err = watchErr()
			if err == nil || ctx.Err() != nil {
				return nil // Ctrl-C
			}
			var ce *client.Error
			if errors.As(err, &ce) {
				return cn.fail(err)
			}
			return &exitError{3, fmt.Errorf("lost the event stream of %s (%v); is `butler serve` still running?", cn.url, streamProblem(err))}
		},
	}
	c.clientFlags(cmd)
	return cmd
}

func (c *cli) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print the access token from the data directory's token file",
		Long: `Print the token that ` + "`butler serve`" + ` generated at its first start and keeps in
<data-dir>/token (--data-dir, env BUTLER_DATA_DIR, default ./butler-data).`,
		Example: `  # the header from standard input: the token stays off curl's command line
  butler token | sed 's/^/X-Plex-Token: /' | curl -H @- http://127.0.0.1:28400/butler`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			token, path, err := c.readToken()
			if err != nil {
				return err
			}
			if token == "" {
				return &exitError{1, fmt.Errorf("no token in %s: `butler serve` makes it at its first start; give its data directory with --data-dir or BUTLER_DATA_DIR", path)}
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), token)
			return err
		},
	}
	c.dataDirFlag(cmd)
	return cmd
}

// streamProblem says why an event stream ended, without the client's
// prefixes.
func streamProblem(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the server ended it"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
