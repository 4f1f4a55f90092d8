// Command kustomize-build builds a kustomization as `kubectl kustomize` (and so `tutor k8s`,
// through `kubectl apply --kustomize`) does: resources parsed, ConfigMaps generated from their
// files with hashed names, references to them rewritten, duplicates refused. It prints the
// resources as YAML, or the error and exit code 1.
//
// Usage: kustomize-build DIR
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kustomize-build DIR")
		os.Exit(2)
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), os.Args[1])
	if err != nil {
		fail(err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
