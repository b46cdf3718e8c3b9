using System.Text.Json.Serialization;
using Sockeye.Server.Status;

namespace Sockeye.Admin;

/// <summary>
/// <c>/status.json</c>'s serializer, generated at build time (NativeAOT has no reflection-based serializer): camelCase
/// names, enums as their names.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true)]
[JsonSerializable(typeof(ServerStatus))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
