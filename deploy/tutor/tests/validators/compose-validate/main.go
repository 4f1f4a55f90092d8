// Command compose-validate loads Compose files the way `docker compose config` does, with
// compose-go (the loader docker compose is built on): schema validation, interpolation,
// merging, normalization and the checks between services (depends_on naming a service that
// does not exist, ...). It prints the resulting project as JSON, or the error and exit code 1.
//
// Usage: compose-validate WORKDIR FILE...
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: compose-validate WORKDIR FILE...")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions(
		os.Args[2:],
		cli.WithWorkingDirectory(os.Args[1]),
		cli.WithName("tutor_local"),
		cli.WithOsEnv,
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(out, '\n'))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
