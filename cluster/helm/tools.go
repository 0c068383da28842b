//go:build tools

// Keeps helm's command in the module graph so that `go mod tidy` records
// every module it needs in go.sum.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
