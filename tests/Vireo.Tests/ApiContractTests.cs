using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Vireo.Tests;

/// <summary>Every route the daemon maps is in the checked-in OpenAPI document (docs/openapi.json).</summary>
public partial class ApiContractTests
{
    [GeneratedRegex("""\bapp\.Map(Get|Post|Put|Delete|Patch)\("(/[^"]*)"\s*,""")]
    private static partial Regex Route();

    [Fact]
    public void Every_route_is_in_the_openapi_document()
    {
        var root = Path.GetFullPath(Path.Combine(GoldenFiles.SourceDir, "..", "..", ".."));
        var doc = JsonNode.Parse(File.ReadAllText(Path.Combine(root, "docs", "openapi.json")))!["paths"]!.AsObject();
        var routes = Directory.EnumerateFiles(Path.Combine(root, "src", "Vireo.Daemon"), "*.cs")
            .SelectMany(f => Route().Matches(File.ReadAllText(f)).Select(m => (Method: m.Groups[1].Value.ToLowerInvariant(), Path: m.Groups[2].Value)))
            .ToList();
        Assert.True(routes.Count > 70, $"only {routes.Count} routes found: has the way routes are mapped changed?");
        var missing = routes.Where(r => doc[r.Path]?[r.Method] is null).Select(r => $"{r.Method.ToUpperInvariant()} {r.Path}").ToList();
        Assert.True(missing.Count == 0, "Not in docs/openapi.json (run ApiContractTests in the integration tests with VIREO_REGENERATE_GOLDEN=1):\n" + string.Join("\n", missing));
    }
}
