package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthCmd asks the server's /healthz, which needs no token: for a
// container's HEALTHCHECK or a monitoring probe, where no curl may exist.
func (c *cli) healthCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that the server answers and its database can write (exit 0 healthy, 1 unhealthy, 3 unreachable)",
		Long: `Ask the server's GET /healthz, which needs no token: exit 0 when it answers
200 ("ok"), 1 when it answers otherwise (503 while its database cannot write,
with the reason), 3 when it cannot be reached in --timeout. For a container's
HEALTHCHECK or a monitoring probe.`,
		Example: `  butler health --url http://127.0.0.1:8080`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			raw := firstSet(c.url, c.getenv("BUTLER_URL"), defaultURL)
			u := raw
			if !strings.Contains(u, "://") {
				u = "http://" + u
			}
			base, err := url.Parse(u)
			if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
				return usageErr("server URL %q (--url, BUTLER_URL): want http://HOST:PORT", raw)
			}
			target := base.JoinPath("healthz").String()
			ctx, cancel := context.WithTimeout(ctxOf(cmd), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return usageErr("server URL %q: %v", raw, err)
			}
			req.Header.Set("User-Agent", "butler-cli/"+version)
			// No token is sent, so a redirect cannot leak one; still, a
			// health check answers for this server, not another.
			hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := hc.Do(req)
			if err != nil {
				if ue, ok := err.(*url.Error); ok {
					return &exitError{3, fmt.Errorf("cannot reach %s: %s; is `butler serve` running? (--url, BUTLER_URL)", target, unreachable(ue))}
				}
				return &exitError{3, fmt.Errorf("cannot reach %s: %v", target, err)}
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			msg := strings.TrimSpace(string(body))
			if resp.StatusCode != http.StatusOK {
				return &exitError{1, fmt.Errorf("%s answered %s: %s", target, resp.Status, firstSet(msg, "no reason given"))}
			}
			fmt.Fprintln(cmd.OutOrStdout(), firstSet(msg, "ok"))
			return nil
		},
	}
	cmd.Flags().StringVar(&c.url, "url", "", "the server's URL (env BUTLER_URL; default "+defaultURL+")")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}
