using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;

namespace Vireo.IntegrationTests;

/// <summary>
/// Generated HTTP bodies for every JSON route of the API (issue 15, item 6): the fields each
/// route takes, plus unknown ones, with values of every JSON kind — hostile strings, numbers out
/// of range, wrong types, nesting — and bodies that are not JSON at all. No answer may be a 5xx,
/// and every refusal must carry a problem body that says what was wrong. The daemon runs in a
/// network namespace of its own; paths in the bodies stay under the test's own directory.
/// </summary>
[Collection("vireo")]
public sealed class BodyFuzzTests(VireoFixture fx, Xunit.Abstractions.ITestOutputHelper output)
{
    private static long Iterations =>
        long.TryParse(Environment.GetEnvironmentVariable("VIREO_PROPERTY_ITERATIONS"), out var n) && n > 0 ? n : 1000;

    /// <summary>Each JSON route and the fields its body record has (Vireo.Api's contract). Host-wide routes (bridges on host NICs, shutting every guest down) are left out.</summary>
    private static readonly (string Path, string[] Fields)[] Routes =
    [
        ("/v1/domains/f/monitor", ["command", "hmp"]),
        ("/v1/networks/default/update", ["command", "section", "xml", "live", "config"]),
        ("/v1/domains/f/interfaces", ["type", "source", "mac", "model", "target", "live", "config"]),
        ("/v1/domains/f/interfaces/detach", ["type", "source", "mac", "model", "target", "live", "config"]),
        ("/v1/pools/default/volumes/copy", ["sourcePool", "sourceVolume", "name", "format"]),
        ("/v1/pools/default/volumes/v.raw/resize", ["capacity", "delta", "shrink"]),
        ("/v1/domains/f/disks", ["source", "target", "pool", "bus", "device", "format", "cache", "readOnly", "shareable", "serial", "live", "config"]),
        ("/v1/domains/f/disks/detach", ["source", "target", "live", "config"]),
        ("/v1/domains/f/media", ["target", "source", "eject", "live", "config", "force"]),
        ("/v1/domains/f/snapshots", ["name", "description", "diskOnly", "xml"]),
        ("/v1/domains/f/save", ["path", "running"]),
        ("/v1/domains/f/managedsave", ["path", "running"]),
        ("/v1/restore", ["path", "paused"]),
        ("/v1/import", ["source", "name", "pool", "format", "memoryMiB", "vcpus"]),
        ("/v1/domains/f/disks/vda/resize", ["size"]),
        ("/v1/domains/f/disks/vda/copy", ["destination", "format", "wait", "pivot"]),
        ("/v1/domains/f/disks/vda/commit", ["delete"]),
        ("/v1/install/location", ["name", "source", "kernel", "initrd", "extraArgs"]),
        ("/v1/domains/f/clone", ["name", "autoClone", "files", "mode", "macs"]),
        ("/v1/install", ["options", "seed", "autostart", "start"]),
        ("/v1/web/password", ["password"]),
    ];

    private static readonly string[] OptionFields = ["name", "memory", "vcpus", "osVariant", "disks", "cdrom", "networks", "graphics", "boot", "import", "cloudInit"];

    [Fact]
    public async Task Generated_bodies_for_every_json_route_get_a_4xx_with_a_message_never_a_5xx()
    {
        await using var ns = await NetNs.CreateAsync();
        await using var d = await TestDaemon.StartAsync(fx, ns);
        await d.DefineAsync(d.GuestXml("f"));
        var inside = Path.Combine(d.Root, "fuzz");
        Directory.CreateDirectory(inside);
        await File.WriteAllBytesAsync(Path.Combine(inside, "file"), new byte[4096]);
        using var http = d.Api();
        var rssBefore = Rss(d.Pid);

        string[] strings = ["", " ", "f", "default", "vda", "vdb", "hdc", "raw", "qcow2", "virtio", "scsi", "network", "user", "bridge", "on", "add", "delete", "ip-dhcp-host",
            "<host mac='52:54:00:00:00:01' ip='192.168.122.9'/>", "<x", "52:54:00:zz", "query-status", "info status", "a,b=c", "'\"<>&", "\u00e9\u4e2d\U0001F4A5",
            new string('x', 5000), "-1", "1e400", "copy", "linked", "none", inside, Path.Combine(inside, "file"), Path.Combine(inside, "new"), Path.Combine(inside, "no", "such"),
            "relative/path", "http://127.0.0.1:9/none.iso", "%00", "\t\n"];
        var str = Gen.Int[0, strings.Length - 1].Select(i => (JsonNode?)JsonValue.Create(strings[i]));
        string[] numbers = ["0", "-1", "1", "4096", "1.5", "9223372036854775807", "18446744073709551615", "1e300", "123456789012345678901234567890"];
        var num = Gen.Int[0, numbers.Length - 1].Select(i => JsonNode.Parse(numbers[i]));
        var boolean = Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b));
        var scalar = Gen.OneOf(str, num, boolean, Gen.Const((JsonNode?)null));
        var value = Gen.OneOf(scalar, scalar.Array[0, 3].Select(a => (JsonNode?)new JsonArray(a.Select(x => x?.DeepClone()).ToArray())),
            Gen.Select(Gen.Int[0, OptionFields.Length - 1], scalar, (k, v) => (JsonNode?)new JsonObject { [OptionFields[k]] = v?.DeepClone() }));
        var body = Gen.Select(Gen.Int[0, Routes.Length - 1], Gen.Int[0, 15], Gen.Select(Gen.Int[0, 99], value, (k, v) => (Key: k, Value: v)).Array[0, 8], (r, kind, fields) => (Route: r, Kind: kind, Fields: fields));

        var seen = new Dictionary<int, int>();
        var serverErrors = new List<string>();
        body.Sample(c =>
        {
            var (path, names) = Routes[c.Route];
            var obj = new JsonObject();
            foreach (var f in c.Fields)
                obj[f.Key < 90 ? names[f.Key % names.Length] : "unknown" + f.Key] = f.Value?.DeepClone();
            // Mostly JSON objects; now and then what is not one.
            var (text, type) = c.Kind switch
            {
                0 => ("", "application/json"),
                1 => ("{", "application/json"),
                2 => ("null", "application/json"),
                3 => ("[1,2]", "application/json"),
                4 => (obj.ToJsonString(), "text/plain"),
                5 => (obj.ToJsonString() + "}", "application/json"),
                _ => (obj.ToJsonString(), "application/json"),
            };
            using var request = new HttpRequestMessage(path == "/v1/web/password" ? HttpMethod.Put : HttpMethod.Post, path) { Content = new StringContent(text, Encoding.UTF8) };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(type);
            using var response = http.Send(request);
            var code = (int)response.StatusCode;
            var answer = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
            lock (seen) seen[code] = seen.GetValueOrDefault(code) + 1;
            if (code >= 500) lock (serverErrors) serverErrors.Add($"POST {path} {text} → {code} {answer}");
            Assert.True(code < 500, $"POST {path} {type} {text} → {code} {answer}");
            if (code >= 400)
            {
                var detail = JsonNode.Parse(answer)?["detail"]?.GetValue<string>();
                Assert.False(string.IsNullOrWhiteSpace(detail), $"POST {path} {text} → {code} without a message: '{answer}'");
            }
        }, iter: Iterations, threads: 1, print: c => $"route {Routes[c.Route].Path} kind {c.Kind} fields {string.Join(", ", c.Fields.Select(f => $"{f.Key}={f.Value?.ToJsonString()}"))}");

        var rssAfter = Rss(d.Pid);
        output.WriteLine($"{Iterations} bodies: " + string.Join(", ", seen.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}")));
        output.WriteLine($"daemon RSS {rssBefore / 1024} MiB before, {rssAfter / 1024} MiB after");
        // The daemon still serves, and memory did not run away (it was 1.3 GB after 10,700 fuzzed requests).
        await d.OkAsync("list", "--all");
        Assert.True(rssAfter < 400 * 1024, $"daemon RSS {rssAfter / 1024} MiB after the fuzzed bodies");
        // Whatever the bodies made (volumes, definitions) stayed inside the test's own dirs; the pool and the guest are still there.
        Assert.Contains(" f ", await d.OkAsync("list", "--all"));
    }

    private static long Rss(int pid) =>
        long.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
}
