"""The cluster side: kubeconfig handling, pod identity objects, workload identity and the storage probe Job."""
