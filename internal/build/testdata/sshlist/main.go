// Command sshlist is a static helper the ssh mount tests copy into a
// build: it lists the keys of the agent at $SSH_AUTH_SOCK (one SHA256
// fingerprint a line), has each sign a message and checks the signature,
// then tries to remove every key and says whether the agent refused.
package main

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sshlist:", err)
		os.Exit(1)
	}
}

func run() error {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return fmt.Errorf("SSH_AUTH_SOCK is not set")
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	ag := agent.NewClient(c)
	keys, err := ag.List()
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	msg := []byte("strata sshlist")
	for _, k := range keys {
		pub, err := ssh.ParsePublicKey(k.Blob)
		if err != nil {
			return err
		}
		sig, err := ag.Sign(pub, msg)
		if err != nil {
			return fmt.Errorf("sign with %s: %w", ssh.FingerprintSHA256(pub), err)
		}
		if err := pub.Verify(msg, sig); err != nil {
			return fmt.Errorf("verify %s: %w", ssh.FingerprintSHA256(pub), err)
		}
		fmt.Println(ssh.FingerprintSHA256(pub), "signed")
	}
	if err := ag.RemoveAll(); err != nil {
		fmt.Println("remove refused")
	} else {
		fmt.Println("remove allowed")
	}
	return nil
}
