// Build facts. hack/version.sh writes buildinfo.generated.h (not committed) before make builds; the
// defaults below describe a build made without it.
#include "CBuildInfo.h"

#if __has_include("buildinfo.generated.h")
#include "buildinfo.generated.h"
#endif

#ifndef K8SWIFT_BUILD_VERSION
#define K8SWIFT_BUILD_VERSION "0.0.0-unknown"
#endif
#ifndef K8SWIFT_BUILD_GIT_COMMIT
#define K8SWIFT_BUILD_GIT_COMMIT ""
#endif
#ifndef K8SWIFT_BUILD_GIT_TREE_STATE
#define K8SWIFT_BUILD_GIT_TREE_STATE ""
#endif
#ifndef K8SWIFT_BUILD_DATE
#define K8SWIFT_BUILD_DATE "1970-01-01T00:00:00Z"
#endif
#ifndef K8SWIFT_BUILD_SWIFT_VERSION
#define K8SWIFT_BUILD_SWIFT_VERSION ""
#endif

const char *k8swift_build_version(void) { return K8SWIFT_BUILD_VERSION; }
const char *k8swift_build_git_commit(void) { return K8SWIFT_BUILD_GIT_COMMIT; }
const char *k8swift_build_git_tree_state(void) { return K8SWIFT_BUILD_GIT_TREE_STATE; }
const char *k8swift_build_date(void) { return K8SWIFT_BUILD_DATE; }
const char *k8swift_build_swift_version(void) { return K8SWIFT_BUILD_SWIFT_VERSION; }
