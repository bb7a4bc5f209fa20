package main

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/internal/output"
)

func init() { register(newVersionCommand) }

// version and commit are set at build time: -ldflags "-X main.version=...
// -X main.commit=..." (make build does). Without commit, the VCS stamp of
// the build is used, when Go recorded one.
var (
	version = "dev"
	commit  = ""
)

type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func (v versionInfo) Header() []string { return []string{"version", "commit", "go", "platform"} }
func (v versionInfo) Rows() [][]string {
	c := v.Commit
	if c == "" {
		c = "unknown"
	}
	return [][]string{{v.Version, c, v.Go, v.Platform}}
}

// buildCommit is the commit given at link time, else the build's VCS
// revision ("-dirty" when the tree had changes), else "".
func buildCommit(linked string, bi *debug.BuildInfo) string {
	if linked != "" || bi == nil {
		return linked
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
}

func newVersionCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of podvm-migrate",
		Example: `  podvm-migrate version
  podvm-migrate version -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, _ := debug.ReadBuildInfo()
			v := versionInfo{Version: version, Commit: buildCommit(commit, bi), Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
			f := g.format
			return output.Print(cmd.OutOrStdout(), f, v)
		},
	}
}
