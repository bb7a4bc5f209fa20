// Command govc is govc built from the govmomi module this repository
// pins, with only the commands the discovery benchmark compares against
// (about, find, ls, vm.info and the session commands). It is a bench tool,
// not shipped.
package main

import (
	"os"

	"github.com/vmware/govmomi/cli"
	_ "github.com/vmware/govmomi/cli/about"
	_ "github.com/vmware/govmomi/cli/object"
	_ "github.com/vmware/govmomi/cli/session"
	_ "github.com/vmware/govmomi/cli/vm"
)

func main() {
	os.Exit(cli.Run(os.Args[1:]))
}
