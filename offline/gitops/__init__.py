"""Offline render and checks of the GitOps tree (k8s/) that Flux applies on every cluster.

What Flux does on a cluster, reproduced without a cluster, one module per job:

- `render`: the root Kustomization `flux-system` builds the sync path the program gives the
  FluxInstance (`kustomize`: the real `kubectl kustomize`) and substitutes `${VAR}` from the
  cluster's `platform-vars` ConfigMap (`substitution`); every Flux Kustomization in that output
  builds its own `spec.path` the same way, with its own `postBuild`, recursively;
- `facts`: what the program creates on each cluster, from the offline plan (offline/engine.py);
- `checks`: checks of manifests on their own (schemas and admission, references, images, ...);
- `cross_layer`: checks that the tree agrees with what the program creates;
- `mesh`: meshed workloads and the effective traffic permissions between them;
- `drift`: how two renders differ; `documents`: accessors shared by all of them.

`python -m offline.gitops render STACK|--all --out DIR` writes what each cluster gets.
"""
