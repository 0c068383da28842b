// kubeadmcheck decodes the kubeadm configuration patches of a kind cluster
// file with kubeadm's own API types, strictly (an unknown or misspelt field,
// or a map where the version wants a list, is an error), and prints what it
// found as JSON: for each patch its apiVersion, kind, and the
// kube-controller-manager flags it sets (or, for a KubeletConfiguration, its
// failCgroupV1). The end-to-end tests use it to check
// e2e/kind/cluster.yaml without a container engine.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/v1beta3"
	"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/v1beta4"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

type kindCluster struct {
	Kind                 string   `json:"kind"`
	APIVersion           string   `json:"apiVersion"`
	KubeadmConfigPatches []string `json:"kubeadmConfigPatches"`
}

type patchReport struct {
	APIVersion            string            `json:"apiVersion"`
	Kind                  string            `json:"kind"`
	ControllerManagerArgs map[string]string `json:"controllerManagerArgs"`
	// FailCgroupV1 is the KubeletConfiguration's field, where a patch sets it.
	FailCgroupV1 *bool `json:"failCgroupV1,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kubeadmcheck KIND-CLUSTER-FILE")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	var cluster kindCluster
	// Not strict: only the patches are checked here.
	if err := yaml.Unmarshal(data, &cluster); err != nil {
		fail(fmt.Errorf("%s: %w", os.Args[1], err))
	}
	reports := []patchReport{}
	for i, patch := range cluster.KubeadmConfigPatches {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(patch), &head); err != nil {
			fail(fmt.Errorf("patch %d: %w", i, err))
		}
		report := patchReport{APIVersion: head.APIVersion, Kind: head.Kind, ControllerManagerArgs: map[string]string{}}
		if head.Kind == "KubeletConfiguration" && head.APIVersion == "kubelet.config.k8s.io/v1beta1" {
			var c kubeletv1beta1.KubeletConfiguration
			if err := yaml.UnmarshalStrict([]byte(patch), &c); err != nil {
				fail(fmt.Errorf("patch %d (%s): %w", i, head.APIVersion, err))
			}
			report.FailCgroupV1 = c.FailCgroupV1
			reports = append(reports, report)
			continue
		}
		if head.Kind != "ClusterConfiguration" {
			fail(fmt.Errorf("patch %d: kind %q is not checked", i, head.Kind))
		}
		switch head.APIVersion {
		case "kubeadm.k8s.io/v1beta4":
			var c v1beta4.ClusterConfiguration
			if err := yaml.UnmarshalStrict([]byte(patch), &c); err != nil {
				fail(fmt.Errorf("patch %d (%s): %w", i, head.APIVersion, err))
			}
			for _, arg := range c.ControllerManager.ExtraArgs {
				report.ControllerManagerArgs[arg.Name] = arg.Value
			}
		case "kubeadm.k8s.io/v1beta3":
			var c v1beta3.ClusterConfiguration
			if err := yaml.UnmarshalStrict([]byte(patch), &c); err != nil {
				fail(fmt.Errorf("patch %d (%s): %w", i, head.APIVersion, err))
			}
			for name, value := range c.ControllerManager.ExtraArgs {
				report.ControllerManagerArgs[name] = value
			}
		default:
			fail(fmt.Errorf("patch %d: apiVersion %q is not checked", i, head.APIVersion))
		}
		reports = append(reports, report)
	}
	out, _ := json.Marshal(reports)
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kubeadmcheck:", err)
	os.Exit(1)
}
