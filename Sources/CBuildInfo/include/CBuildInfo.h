#ifndef CBUILDINFO_H
#define CBUILDINFO_H

/// Facts of this build, stamped from git by hack/version.sh (through `make`); a plain `swift build`
/// without it reports an unknown development build.
const char *k8swift_build_version(void);
const char *k8swift_build_git_commit(void);
const char *k8swift_build_git_tree_state(void);
const char *k8swift_build_date(void);
const char *k8swift_build_swift_version(void);

#endif
