// Command caddy-validate adapts a Caddyfile to Caddy's JSON and validates it (modules loaded and
// provisioned, nothing started), as `caddy validate --adapter caddyfile` does, with the Caddy
// version of Tutor's image. It prints the JSON, or the error and exit code 1.
//
// Usage: caddy-validate CADDYFILE (environment placeholders such as {$default_site_port} are
// read from the environment)
package main

import (
	"fmt"
	"os"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: caddy-validate CADDYFILE")
		os.Exit(2)
	}
	body, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	config, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": os.Args[1]})
	if err != nil {
		fail(err)
	}
	for _, warning := range warnings {
		fmt.Fprintln(os.Stderr, "warning:", warning.String())
	}
	var cfg caddy.Config
	if err := caddy.StrictUnmarshalJSON(config, &cfg); err != nil {
		fail(err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		fail(err)
	}
	os.Stdout.Write(append(config, '\n'))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
