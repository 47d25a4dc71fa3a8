// Command etcd-peer runs a single-member etcd, embedded, for the tests' kube-apiserver.
// Usage: etcd-peer <data dir> <client URL> <peer URL>
package main

import (
	"log"
	"net/url"
	"os"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	if len(os.Args) != 4 {
		log.Fatal("usage: etcd-peer <data dir> <client URL> <peer URL>")
	}
	cfg := embed.NewConfig()
	cfg.Dir = os.Args[1]
	client, err := url.Parse(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	peer, err := url.Parse(os.Args[3])
	if err != nil {
		log.Fatal(err)
	}
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.LogLevel = "error"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	<-e.Server.ReadyNotify()
	log.Printf("etcd-peer ready on %s", client)
	log.Fatal(<-e.Err())
}
