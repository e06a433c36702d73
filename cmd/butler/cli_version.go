package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Set at build time, for builds that have no version control information
// (scripts/release.sh, packaging/Dockerfile):
//
//	-ldflags "-X main.version=v1.2.3 -X main.buildCommit=<sha> -X main.buildDate=<RFC 3339>"
var (
	buildCommit string
	buildDate   string
)

// versionInfo is what `butler version` reports.
type versionInfo struct {
	Version    string `json:"version"`              // -X main.version, else the default
	Module     string `json:"module"`               // the main module's path
	ModVersion string `json:"moduleVersion"`        // the main module's version from the build info
	Commit     string `json:"commit,omitempty"`     // vcs.revision, else -X main.buildCommit
	CommitTime string `json:"commitTime,omitempty"` // vcs.time
	Modified   bool   `json:"modified,omitempty"`   // vcs.modified: built with uncommitted changes
	BuildDate  string `json:"buildDate,omitempty"`  // -X main.buildDate
	Go         string `json:"go"`
	Platform   string `json:"platform"`
}

// readVersion reads the build info (ok false: the binary has none).
func readVersion(info *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Version: version, Commit: buildCommit, BuildDate: buildDate,
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok || info == nil {
		return v
	}
	v.Module, v.ModVersion, v.Go = info.Main.Path, info.Main.Version, info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "GOOS":
			v.Platform = s.Value + v.Platform[strings.Index(v.Platform, "/"):]
		case "GOARCH":
			v.Platform = v.Platform[:strings.Index(v.Platform, "/")+1] + s.Value
		}
	}
	return v
}

// write prints the version as `butler version` does.
func (v versionInfo) write(w io.Writer) error {
	or := func(s, none string) string {
		if s == "" {
			return none
		}
		return s
	}
	commit := or(v.Commit, "unknown (built without version control information)")
	if v.Modified {
		commit += " (with uncommitted changes)"
	}
	_, err := fmt.Fprintf(w, "butler %s\nmodule:      %s %s\ncommit:      %s\ncommit time: %s\nbuilt:       %s\ngo:          %s %s\n",
		v.Version, or(v.Module, "unknown"), or(v.ModVersion, "(unknown)"), commit,
		or(v.CommitTime, "unknown"), or(v.BuildDate, "unknown (no build date was given)"), v.Go, v.Platform)
	return err
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit it was built from, and when",
		Long: `Print the version, the module version and the commit (with its time) that
the binary was built from, read from the binary's build information, the build
date when the build gave one (scripts/release.sh does), and the Go version and
platform.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := readVersion(debug.ReadBuildInfo())
			switch output {
			case "table":
				return v.write(stdout)
			case "json":
				return printJSON(stdout, v)
			}
			return usageErr("--output %q: want table or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}
