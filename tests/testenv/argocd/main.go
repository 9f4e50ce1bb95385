// Command argocd runs the parts of Argo CD the real GitOps loop needs, and nothing else: the
// application-controller, the repo-server, and an in-process Redis (miniredis) they share as
// their cache. One binary, dispatched like upstream's cmd/main.go on ARGOCD_BINARY_NAME or the
// first argument, so the UI, API server, Dex and the rest are never compiled.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alicebob/miniredis/v2"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/log"
)

const redisCommand = "redis"

func init() {
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
}

// redis serves a Redis-compatible cache on the address given, until SIGTERM or SIGINT.
func redis(address string) error {
	server := miniredis.NewMiniRedis()
	if err := server.StartAddr(address); err != nil {
		return fmt.Errorf("redis: listening on %s: %w", address, err)
	}
	fmt.Fprintf(os.Stderr, "redis: serving on %s\n", server.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	server.Close()
	return nil
}

// Unlike upstream's cmd/main.go, no grpc.DisableSRVLookups(): it turns off the _grpclb SRV
// queries that linking gRPC's grpclb balancer turns on, and panics when they are already off.
// Upstream links grpclb through commands this binary leaves out; here gRPC's default (off)
// stands, which is the state the workaround exists to reach.
func main() {
	name := os.Getenv("ARGOCD_BINARY_NAME")
	args := os.Args[1:]
	if name == "" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	var command *cobra.Command
	switch name {
	case common.CommandApplicationController:
		command = appcontroller.NewCommand()
	case common.CommandRepoServer:
		command = reposerver.NewCommand()
	case redisCommand:
		if len(args) != 1 {
			fmt.Fprintln(os.Stderr, "usage: argocd redis HOST:PORT")
			os.Exit(2)
		}
		if err := redis(args[0]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	default:
		fmt.Fprintf(os.Stderr, "usage: argocd %s|%s|%s ARGS... (got %q)\n",
			common.CommandApplicationController, common.CommandRepoServer, redisCommand, name)
		os.Exit(2)
	}
	command.SetArgs(args)
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
