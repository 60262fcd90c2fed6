using System.Text.Json.Nodes;
using Google.Api;
using Google.Protobuf.Reflection;

namespace Neuro.FrontDoor;

/// <summary>Builds the OpenAPI 3 document of the REST API from the same .proto descriptors and google.api.http rules that
/// JSON transcoding serves, so the document cannot drift from the endpoints.</summary>
public static class OpenApiDocument
{
    /// <summary>Server-streaming methods whose REST face is server-sent events, served outside transcoding (which has
    /// no SSE): method full name → POST path.</summary>
    public static readonly IReadOnlyDictionary<string, string> EventStreamRoutes = new Dictionary<string, string>
    {
        ["neuro.v1.Sessions.StreamTurn"] = "/api/v1/sessions/{session_id}/turns:stream",
    };

    public static JsonObject Build(IEnumerable<Google.Protobuf.Reflection.ServiceDescriptor> services, string version)
    {
        var paths = new JsonObject();
        var schemas = new JsonObject();
        foreach (var service in services)
        {
            foreach (var method in service.Methods)
            {
                var rule = method.GetOptions()?.GetExtension(AnnotationsExtensions.Http);
                if (rule is null && EventStreamRoutes.TryGetValue(method.FullName, out var streamPath))
                {
                    rule = new HttpRule { Post = streamPath, Body = "*" };
                }
                if (rule is null)
                {
                    continue;
                }
                var (verb, template) = rule.PatternCase switch
                {
                    HttpRule.PatternOneofCase.Get => ("get", rule.Get),
                    HttpRule.PatternOneofCase.Post => ("post", rule.Post),
                    HttpRule.PatternOneofCase.Put => ("put", rule.Put),
                    HttpRule.PatternOneofCase.Delete => ("delete", rule.Delete),
                    HttpRule.PatternOneofCase.Patch => ("patch", rule.Patch),
                    _ => (null, null),
                };
                if (verb is null || template is null)
                {
                    continue;
                }
                var pathFields = System.Text.RegularExpressions.Regex.Matches(template, @"\{(\w+)\}").Select(m => m.Groups[1].Value).ToHashSet();
                var parameters = new JsonArray();
                foreach (var field in method.InputType.Fields.InDeclarationOrder())
                {
                    var inPath = pathFields.Contains(field.Name);
                    if (inPath || (rule.Body != "*" && field.FieldType != FieldType.Message))
                    {
                        parameters.Add(new JsonObject
                        {
                            ["name"] = inPath ? field.Name : field.JsonName,
                            ["in"] = inPath ? "path" : "query",
                            ["required"] = inPath,
                            ["schema"] = Schema(field, schemas),
                        });
                    }
                }
                var operation = new JsonObject
                {
                    ["operationId"] = $"{service.Name}.{method.Name}",
                    ["tags"] = new JsonArray(service.Name),
                    ["parameters"] = parameters,
                    ["responses"] = new JsonObject
                    {
                        ["200"] = method.IsServerStreaming
                            ? new JsonObject
                            {
                                ["description"] = "Server-sent events: 'event: token' per message, 'event: done' for the last",
                                ["content"] = new JsonObject { ["text/event-stream"] = new JsonObject { ["schema"] = Ref(method.OutputType, schemas) } },
                            }
                            : Response(method.OutputType, schemas),
                        ["default"] = new JsonObject
                        {
                            ["description"] = "An error: RFC 9457 problem details naming the field at fault",
                            ["content"] = new JsonObject { ["application/problem+json"] = new JsonObject { ["schema"] = ProblemSchema() } },
                        },
                    },
                };
                if (rule.Body == "*")
                {
                    operation["requestBody"] = new JsonObject
                    {
                        ["required"] = true,
                        ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = Ref(method.InputType, schemas) } },
                    };
                }
                var path = paths[template] as JsonObject ?? new JsonObject();
                path[verb] = operation;
                paths[template] = path;
            }
        }
        return new JsonObject
        {
            ["openapi"] = "3.0.3",
            ["info"] = new JsonObject { ["title"] = "Neuro.Orleans API", ["version"] = version },
            ["paths"] = paths,
            ["components"] = new JsonObject
            {
                ["schemas"] = schemas,
                ["securitySchemes"] = new JsonObject { ["bearer"] = new JsonObject { ["type"] = "http", ["scheme"] = "bearer", ["bearerFormat"] = "JWT" } },
            },
            ["security"] = new JsonArray(new JsonObject { ["bearer"] = new JsonArray() }),
        };
    }

    private static JsonObject Response(MessageDescriptor output, JsonObject schemas) => output.FullName == HttpBody.Descriptor.FullName
        ? new JsonObject { ["description"] = "Raw content", ["content"] = new JsonObject { ["image/png"] = new JsonObject { ["schema"] = new JsonObject { ["type"] = "string", ["format"] = "binary" } } } }
        : new JsonObject { ["description"] = "OK", ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = Ref(output, schemas) } } };

    private static JsonObject Ref(MessageDescriptor message, JsonObject schemas)
    {
        if (message.FullName == "google.protobuf.Timestamp")
        {
            return new JsonObject { ["type"] = "string", ["format"] = "date-time" };
        }
        if (message.FullName == "google.protobuf.Struct")
        {
            return new JsonObject { ["type"] = "object", ["additionalProperties"] = true };
        }
        if (!schemas.ContainsKey(message.FullName))
        {
            schemas[message.FullName] = new JsonObject(); // placeholder against recursion
            var properties = new JsonObject();
            foreach (var field in message.Fields.InDeclarationOrder())
            {
                properties[field.JsonName] = Schema(field, schemas);
            }
            schemas[message.FullName] = new JsonObject { ["type"] = "object", ["properties"] = properties };
        }
        return new JsonObject { ["$ref"] = $"#/components/schemas/{message.FullName}" };
    }

    private static JsonNode Schema(FieldDescriptor field, JsonObject schemas)
    {
        JsonNode item = field.FieldType switch
        {
            FieldType.String => new JsonObject { ["type"] = "string" },
            FieldType.Bool => new JsonObject { ["type"] = "boolean" },
            FieldType.Double or FieldType.Float => new JsonObject { ["type"] = "number" },
            FieldType.Int32 or FieldType.SInt32 or FieldType.UInt32 or FieldType.Fixed32 or FieldType.SFixed32 => new JsonObject { ["type"] = "integer", ["format"] = "int32" },
            // JSON transcoding writes 64-bit integers as JSON numbers (not the proto3 JSON strings).
            FieldType.Int64 or FieldType.SInt64 or FieldType.UInt64 or FieldType.Fixed64 or FieldType.SFixed64 => new JsonObject { ["type"] = "integer", ["format"] = "int64" },
            FieldType.Bytes => new JsonObject { ["type"] = "string", ["format"] = "byte" },
            FieldType.Enum => new JsonObject { ["type"] = "string" },
            _ => Ref(field.MessageType, schemas),
        };
        return field.IsRepeated ? new JsonObject { ["type"] = "array", ["items"] = item } : item;
    }

    private static JsonObject ProblemSchema() => new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject
        {
            ["type"] = new JsonObject { ["type"] = "string" },
            ["title"] = new JsonObject { ["type"] = "string" },
            ["status"] = new JsonObject { ["type"] = "integer" },
            ["detail"] = new JsonObject { ["type"] = "string" },
            ["field"] = new JsonObject { ["type"] = "string" },
            ["errors"] = new JsonObject { ["type"] = "object", ["additionalProperties"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" } } },
        },
    };
}
