package cli

import (
	"github.com/spf13/pflag"

	"github.com/strata-project/strata/internal/engine"
)

// netFlags are run and create's network flags beyond --network.
type netFlags struct {
	aliases    []string
	mac        string
	addHosts   []string
	dns        []string
	dnsSearch  []string
	dnsOptions []string
	publishAll bool
}

func addNetFlags(fs *pflag.FlagSet, f *netFlags) {
	fs.StringArrayVar(&f.aliases, "network-alias", nil, "add a name the container answers to on its user-defined network")
	fs.StringVar(&f.mac, "mac-address", "", "the container's MAC address on its network (e.g. 02:42:ac:11:00:02)")
	fs.StringArrayVar(&f.addHosts, "add-host", nil, "add a line to /etc/hosts: HOST:IP (HOST:host-gateway reaches the host's loopback)")
	fs.StringArrayVar(&f.dns, "dns", nil, "set a nameserver in /etc/resolv.conf (replaces the host's)")
	fs.StringArrayVar(&f.dnsSearch, "dns-search", nil, "set a search domain in /etc/resolv.conf (\".\" for none)")
	fs.StringArrayVar(&f.dnsOptions, "dns-option", nil, "set a resolver option in /etc/resolv.conf")
	fs.BoolVarP(&f.publishAll, "publish-all", "P", false, "publish every port the image EXPOSEs on a free host port")
}

func (f *netFlags) options() engine.NetworkOptions {
	return engine.NetworkOptions{
		Aliases: f.aliases, MacAddress: f.mac, ExtraHosts: f.addHosts,
		DNS: f.dns, DNSSearch: f.dnsSearch, DNSOptions: f.dnsOptions,
	}
}
