// Command latentda runs cycled data-assimilation experiments on Temporal.
package main

import "os"

func main() { os.Exit(Execute()) }
