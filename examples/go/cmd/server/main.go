package main

import (
	"fmt"
	"log"
	"net/http"
)

var version = "dev"

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "server %s\n", version) })
	log.Fatal(http.ListenAndServe(":8080", nil))
}
