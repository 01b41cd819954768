using System.Text.Json.Nodes;

namespace Vireo.IntegrationTests;

/// <summary>
/// The REST API's contract: the daemon serves an OpenAPI document made from its routes, and
/// docs/openapi.json is that document checked in (VIREO_REGENERATE_GOLDEN=1 rewrites it; review the diff).
/// </summary>
[Collection("vireo")]
public sealed class ApiContractTests(VireoFixture fx)
{
    [Fact]
    public async Task The_daemon_serves_the_checked_in_openapi_document()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        using var api = d.Api();
        var served = await api.GetStringAsync("/openapi/v1.json");
        var doc = JsonNode.Parse(served)!;
        Assert.Equal("Vireo API", doc["info"]!["title"]!.GetValue<string>());
        Assert.NotNull(doc["paths"]!["/v1/domains/{d}/start"]!["post"]);
        var file = Path.Combine(fx.Repo, "docs", "openapi.json");
        if (Environment.GetEnvironmentVariable("VIREO_REGENERATE_GOLDEN") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await File.WriteAllTextAsync(file, served.ReplaceLineEndings("\n").TrimEnd('\n') + "\n");
            return;
        }
        Assert.True(File.Exists(file), "docs/openapi.json is missing; run this test with VIREO_REGENERATE_GOLDEN=1 and review it.");
        Assert.True((await File.ReadAllTextAsync(file)).TrimEnd('\n') == served.ReplaceLineEndings("\n").TrimEnd('\n'),
            "docs/openapi.json is not what the daemon serves: the routes changed. Run this test with VIREO_REGENERATE_GOLDEN=1 and review the diff.");
    }
}
