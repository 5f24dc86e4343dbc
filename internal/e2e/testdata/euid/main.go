// Command euid prints its real and effective user IDs. The security tests
// install it setuid root in an image: run as another user, it shows
// whether the container let the setuid bit take effect.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("uid=%d euid=%d\n", os.Getuid(), os.Geteuid())
}
