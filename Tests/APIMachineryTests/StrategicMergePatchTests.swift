import Testing

@testable import APIMachinery

/// The patch metadata of the fields these tests touch, as OpenAPI gives it for apps/v1.
let containerSchema = PatchSchema(
    name: "Container",
    properties: [
        "ports": PatchSchema(patchStrategy: "merge", patchMergeKey: "containerPort", items: PatchSchema()),
        "env": PatchSchema(patchStrategy: "merge", patchMergeKey: "name", items: PatchSchema()),
    ])
let podSpecSchema = PatchSchema(
    name: "PodSpec",
    properties: [
        "containers": PatchSchema(patchStrategy: "merge", patchMergeKey: "name", items: containerSchema),
        "volumes": PatchSchema(
            patchStrategy: "merge,retainKeys", patchMergeKey: "name", items: PatchSchema(name: "Volume")),
        "tolerations": PatchSchema(items: PatchSchema(name: "Toleration")),
    ])
let deploymentSchema = PatchSchema(
    name: "Deployment",
    properties: [
        "metadata": PatchSchema(properties: [
            "finalizers": PatchSchema(patchStrategy: "merge", items: PatchSchema()),
            "labels": PatchSchema(additionalProperties: PatchSchema()),
        ]),
        "spec": PatchSchema(properties: [
            "strategy": PatchSchema(patchStrategy: "retainKeys"),
            "template": PatchSchema(properties: ["spec": podSpecSchema]),
        ]),
    ])

func smp(_ original: String, _ patch: String, _ schema: PatchSchema? = deploymentSchema) throws -> JSONValue {
    try StrategicMergePatch.apply(patch: json(patch), to: json(original), schema: schema)
}

func podSpec(_ containers: String, extra: String = "") -> String {
    #"{"spec":{"template":{"spec":{"containers":"# + containers + extra + "}}}}"
}

@Suite("Strategic merge patch")
struct StrategicMergePatchTests {
    @Test("the recorded deployment patch merges the nginx container by name and keeps its other fields")
    func recordedDeploymentPatch() throws {
        let (patch, response) = try recorded("patch-strategic-deployment")
        let original = json(
            #"""
            {"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","namespace":"golden"},
             "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
              "template":{"metadata":{"labels":{"app":"web"}},
               "spec":{"containers":[{"name":"nginx","image":"nginx:1.25","ports":[{"containerPort":80,"protocol":"TCP"}],
                 "resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File",
                 "imagePullPolicy":"IfNotPresent"}],
                "restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst"}},
              "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}}}}
            """#)
        let out = try StrategicMergePatch.apply(patch: patch, to: original, schema: deploymentSchema)
        let want = response["spec"]?["template"]?["spec"]?["containers"]
        #expect(out["spec"]?["template"]?["spec"]?["containers"] == want)
        #expect(out["spec"]?["strategy"] == response["spec"]?["strategy"])
        #expect(out["spec"]?["replicas"] == response["spec"]?["replicas"])
    }

    @Test(
        "documented strategic merge behaviours",
        arguments: [
            // kubectl patch docs: a new container is added to the merge list, before the existing one.
            (
                podSpec(#"[{"name":"patch-demo-ctr","image":"nginx"}]"#),
                podSpec(#"[{"name":"patch-demo-ctr-2","image":"redis"}]"#),
                podSpec(#"[{"name":"patch-demo-ctr-2","image":"redis"},{"name":"patch-demo-ctr","image":"nginx"}]"#)
            ),
            // kubectl patch docs: tolerations have no patch strategy, so the list is replaced.
            (
                podSpec(
                    "[]", extra: #","tolerations":[{"effect":"NoSchedule","key":"dedicated","value":"test-team"}]"#),
                podSpec("[]", extra: #","tolerations":[{"effect":"NoSchedule","key":"disktype","value":"ssd"}]"#),
                podSpec("[]", extra: #","tolerations":[{"effect":"NoSchedule","key":"disktype","value":"ssd"}]"#)
            ),
            // null deletes a key; maps merge recursively.
            (
                #"{"metadata":{"labels":{"a":"1","b":"2"}}}"#, #"{"metadata":{"labels":{"a":null,"c":"3"}}}"#,
                #"{"metadata":{"labels":{"b":"2","c":"3"}}}"#
            ),
            // $patch: delete removes a merge-list item by its merge key.
            (
                podSpec(#"[{"name":"a","image":"x"},{"name":"b","image":"y"}]"#),
                podSpec(#"[{"name":"a","$patch":"delete"}]"#),
                podSpec(#"[{"name":"b","image":"y"}]"#)
            ),
            // {"$patch": "replace"} in a merge list replaces the whole list.
            (
                podSpec(#"[{"name":"a","image":"x"},{"name":"b","image":"y"}]"#),
                podSpec(#"[{"name":"c","image":"z"},{"$patch":"replace"}]"#),
                podSpec(#"[{"name":"c","image":"z"}]"#)
            ),
            // $patch: replace on a map replaces the map.
            (
                #"{"metadata":{"labels":{"a":"1","b":"2"}}}"#, #"{"metadata":{"labels":{"c":"3","$patch":"replace"}}}"#,
                #"{"metadata":{"labels":{"c":"3"}}}"#
            ),
            // $patch: delete on a map empties it.
            (
                #"{"metadata":{"labels":{"a":"1"}}}"#, #"{"metadata":{"labels":{"$patch":"delete"}}}"#,
                #"{"metadata":{"labels":{}}}"#
            ),
            // Primitive merge lists are unioned; the patch's items keep their place among the originals.
            (
                #"{"metadata":{"finalizers":["a","b"]}}"#, #"{"metadata":{"finalizers":["b","c"]}}"#,
                #"{"metadata":{"finalizers":["a","b","c"]}}"#
            ),
            // $deleteFromPrimitiveList removes values from a primitive list.
            (
                #"{"metadata":{"finalizers":["a","b","c"]}}"#,
                #"{"metadata":{"$deleteFromPrimitiveList/finalizers":["a","c"]}}"#,
                #"{"metadata":{"finalizers":["b"]}}"#
            ),
            // $setElementOrder orders the merged list.
            (
                podSpec(#"[{"name":"a"},{"name":"b"},{"name":"c"}]"#),
                #"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}]}}}}"#,
                podSpec(#"[{"name":"c"},{"name":"a"},{"name":"b"}]"#)
            ),
            (
                podSpec(#"[{"name":"a","image":"1"},{"name":"b","image":"1"}]"#),
                #"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"n"},{"name":"a"}],"containers":[{"name":"n","image":"2"},{"name":"a","image":"2"}]}}}}"#,
                podSpec(#"[{"name":"b","image":"1"},{"name":"n","image":"2"},{"name":"a","image":"2"}]"#)
            ),
            // kubectl patch docs: $retainKeys clears the keys it does not list.
            (
                #"{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}}}"#,
                #"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"#,
                #"{"spec":{"strategy":{"type":"Recreate"}}}"#
            ),
            // Nested merge lists merge by their own keys.
            (
                podSpec(
                    #"[{"name":"a","ports":[{"containerPort":80,"name":"http"}],"env":[{"name":"X","value":"1"}]}]"#),
                podSpec(#"[{"name":"a","ports":[{"containerPort":443}],"env":[{"name":"X","value":"2"}]}]"#),
                podSpec(
                    #"[{"name":"a","ports":[{"containerPort":443},{"containerPort":80,"name":"http"}],"env":[{"name":"X","value":"2"}]}]"#
                )
            ),
            // Nulls and directives inside newly added values are dropped.
            (
                #"{"metadata":{}}"#, #"{"metadata":{"annotations":{"a":"1","b":null}},"status":{"$patch":"delete"}}"#,
                #"{"metadata":{"annotations":{"a":"1"}}}"#
            ),
            // A value of another kind replaces the original.
            (#"{"spec":{"replicas":"x"}}"#, #"{"spec":{"replicas":3}}"#, #"{"spec":{"replicas":3}}"#),
        ])
    func documented(original: String, patch: String, expected: String) throws {
        #expect(try smp(original, patch) == json(expected))
    }

    @Test("without a schema, maps merge and lists are replaced")
    func noSchema() throws {
        let out = try smp(
            #"{"spec":{"items":[{"name":"a"},{"name":"b"}],"m":{"x":1}}}"#,
            #"{"spec":{"items":[{"name":"c"}],"m":{"y":2}}}"#, nil)
        #expect(out == json(#"{"spec":{"items":[{"name":"c"}],"m":{"x":1,"y":2}}}"#))
    }

    @Test("a null patch changes nothing; a non-object patch is a 400")
    func patchShape() throws {
        #expect(try smp(#"{"a":1}"#, "null") == json(#"{"a":1}"#))
        #expect(
            throws: PatchError(
                .badRequest, "json: cannot unmarshal array into Go value of type map[string]interface {}")
        ) {
            try smp(#"{"a":1}"#, "[]")
        }
    }

    @Test("malformed directives fail with upstream's messages")
    func directiveErrors() {
        #expect(throws: PatchError(.internal, "merging lists cannot yet be specified in the patch")) {
            try smp(podSpec(#"[{"name":"a"}]"#), podSpec(#"[{"$patch":"merge"}]"#))
        }
        #expect(throws: PatchError(.badRequest, "invalid patch format of retainKeys")) {
            try smp(#"{"spec":{"strategy":{}}}"#, #"{"spec":{"strategy":{"$retainKeys":["type"],"other":1}}}"#)
        }
        #expect(throws: PatchError(.internal, "map: map[image:x] does not contain declared merge key: name")) {
            try smp(podSpec(#"[{"name":"a"}]"#), podSpec(#"[{"image":"x"}]"#))
        }
        #expect(throws: PatchError(.internal, "unknown patch type: bogus in map: map[$patch:bogus]")) {
            try smp(#"{"metadata":{"labels":{}}}"#, #"{"metadata":{"labels":{"$patch":"bogus"}}}"#)
        }
    }
}
