package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvm-migrate/podvm-migrate/internal/atomicfile"
	"github.com/podvm-migrate/podvm-migrate/internal/output"
	"github.com/podvm-migrate/podvm-migrate/reports"
)

func init() { register(newReportCommand) }

func newReportCommand(g *globalOptions) *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "report RUN_DIR",
		Short: "Render the compatibility and performance report of a migration run",
		Long: `Render the report of a run directory written by 'podvm-migrate migrate': per VM
its plan status and findings with remediation, totals by rule and severity,
phase durations, transfer throughput over time, image size against raw size,
boot-to-ready time and the accelerator, with percentiles over VMs.

--format html writes one self-contained page (inline SVG charts, no network
fetches). The report goes to --out, or RUN_DIR/report.<format>; its path is
printed (with -o json or yaml: an object with its path and format).
--out - writes the report itself to stdout.`,
		Example: `  podvm-migrate report ./run
  podvm-migrate report ./run --format md --out report.md
  podvm-migrate report ./run --format json --out - | jq '.compatibility.vms[].status'`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			format = strings.ToLower(format)
			switch format {
			case "markdown":
				format = reports.FormatMarkdown
			case reports.FormatHTML, reports.FormatMarkdown, reports.FormatJSON, reports.FormatCSV:
			default:
				return usageError{fmt.Errorf("--format %q: want html, md, json or csv", format)}
			}
			r, err := reports.Load(args[0], time.Now())
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := reports.Render(&buf, r, format); err != nil {
				return err
			}
			if out == "-" {
				_, err := cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if out == "" {
				out = filepath.Join(args[0], "report."+format)
			}
			if err := atomicfile.WriteFile(out, buf.Bytes(), 0o644); err != nil {
				return err
			}
			if g.format == output.JSON || g.format == output.YAML {
				return output.Print(cmd.OutOrStdout(), g.format, reportFile{Path: out, Format: format})
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", reports.FormatHTML, "html, md, json or csv")
	cmd.Flags().StringVar(&out, "out", "", "report file (default RUN_DIR/report.FORMAT; - for stdout)")
	return cmd
}

// reportFile is where report wrote what, for -o json and yaml.
type reportFile struct {
	Path   string `json:"path"`
	Format string `json:"format"`
}
