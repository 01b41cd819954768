using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Vireo.IntegrationTests;

/// <summary>
/// Issue 15's crash-consistency test: eight clients define, undefine, start, destroy and hot-plug
/// disks for a minute while the daemon is killed with SIGKILL every 10 s and started again; then
/// what the daemon acknowledged must all still be there, no answer may have been a 5xx, and every
/// QEMU on the host must be one the daemon lists (one per domain, and each one it can end).
/// </summary>
[Collection("vireo")]
public sealed class CrashConsistencyTests(VireoFixture fx, Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Clients = 8;
    private const int NamesPerClient = 3;

    /// <summary>What the last request on a definition left, as far as the client can know.</summary>
    private enum Known { Nothing, Defined, Undefined, Unsure }

    [Fact]
    public async Task Kill_9_every_10_s_under_8_concurrent_clients_loses_no_definition_no_guest_and_gives_no_5xx()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var run = TimeSpan.FromSeconds(60);
        var seed = Environment.TickCount;
        var names = Enumerable.Range(0, Clients).SelectMany(c => Enumerable.Range(0, NamesPerClient).Select(n => $"cc{c}-{n}")).ToArray();
        foreach (var n in names)
        {
            using var f = File.Create(Path.Combine(d.Root, n + "-vdb.img"));
            f.SetLength(1 << 20);
        }
        // Each client alone defines and undefines its own names (so what it was told is exact for
        // them), but starts, destroys and hot-plugs any name (so those race with its owner's undefine).
        var known = new ConcurrentDictionary<string, Known>(names.Select(n => KeyValuePair.Create(n, Known.Nothing)));
        var serverErrors = new ConcurrentQueue<string>();
        var hung = new ConcurrentQueue<string>();
        var counts = new ConcurrentDictionary<string, int>();
        using var stop = new CancellationTokenSource(run);

        async Task Client(int c)
        {
            var rnd = new Random(seed + c);
            using var http = d.Api();
            http.Timeout = TimeSpan.FromSeconds(45);
            var own = names.Where(n => n.StartsWith($"cc{c}-", StringComparison.Ordinal)).ToArray();
            while (!stop.IsCancellationRequested)
            {
                var roll = rnd.Next(100);
                var name = roll < 35 ? own[rnd.Next(own.Length)] : names[rnd.Next(names.Length)];
                var (op, request) = roll switch
                {
                    < 25 => ("define", new HttpRequestMessage(HttpMethod.Post, "/v1/domains") { Content = new StringContent(d.GuestXml(name, memoryMiB: 96), Encoding.UTF8, "application/xml") }),
                    < 35 => ("undefine", new HttpRequestMessage(HttpMethod.Delete, $"/v1/domains/{name}")),
                    < 65 => ("start", new HttpRequestMessage(HttpMethod.Post, $"/v1/domains/{name}/start")),
                    < 85 => ("destroy", new HttpRequestMessage(HttpMethod.Post, $"/v1/domains/{name}/destroy")),
                    < 95 => ("attach", new HttpRequestMessage(HttpMethod.Post, $"/v1/domains/{name}/disks")
                    {
                        Content = new StringContent(new JsonObject { ["source"] = Path.Combine(d.Root, name + "-vdb.img"), ["target"] = "vdb", ["format"] = "raw", ["live"] = true }.ToJsonString(), Encoding.UTF8, "application/json"),
                    }),
                    _ => ("detach", new HttpRequestMessage(HttpMethod.Post, $"/v1/domains/{name}/disks/detach")
                    {
                        Content = new StringContent(new JsonObject { ["target"] = "vdb", ["live"] = true }.ToJsonString(), Encoding.UTF8, "application/json"),
                    }),
                };
                var defining = op is "define" or "undefine";
                if (defining) known[name] = Known.Unsure; // until the answer says otherwise
                try
                {
                    using var response = await http.SendAsync(request);
                    var body = await response.Content.ReadAsStringAsync();
                    var code = (int)response.StatusCode;
                    counts.AddOrUpdate($"{op} {code}", 1, (_, v) => v + 1);
                    if (code >= 500) serverErrors.Enqueue($"{op} {name}: {code} {body}");
                    if (defining && response.IsSuccessStatusCode) known[name] = op == "define" ? Known.Defined : Known.Undefined;
                    else if (op == "undefine" && response.StatusCode == HttpStatusCode.NotFound) known[name] = Known.Undefined;
                }
                catch (TaskCanceledException)
                {
                    hung.Enqueue($"{op} {name}: no answer within {http.Timeout.TotalSeconds} s");
                }
                catch (HttpRequestException)
                {
                    // The daemon was killed under this request, or is not up yet: what it did is unknown.
                    counts.AddOrUpdate($"{op} cut", 1, (_, v) => v + 1);
                    await Task.Delay(30);
                }
            }
        }

        var clients = Enumerable.Range(0, Clients).Select(c => Task.Run(() => Client(c))).ToArray();
        var kills = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < run - TimeSpan.FromSeconds(5))
        {
            await Task.Delay(TimeSpan.FromSeconds(10));
            await d.KillAsync();
            kills++;
            await d.LaunchAsync();
        }
        await Task.WhenAll(clients);
        // One more kill once every client has its answers: each acknowledged change must be on disk.
        await d.KillAsync();
        kills++;
        await d.LaunchAsync();

        var summary = $"seed {seed}, {kills} kills; " + string.Join(", ", counts.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}"));
        Assert.True(serverErrors.IsEmpty, $"5xx answers ({summary}):\n{string.Join('\n', serverErrors)}\ndaemon log:\n{d.Log}");
        Assert.True(hung.IsEmpty, $"requests without an answer ({summary}):\n{string.Join('\n', hung)}");
        Assert.True(counts.Where(kv => kv.Key.StartsWith("start 2", StringComparison.Ordinal)).Sum(kv => kv.Value) >= 10, $"too few starts succeeded to mean anything: {summary}");

        output.WriteLine(summary);
        output.WriteLine($"certain at the end: {known.Count(k => k.Value == Known.Defined)} defined, {known.Count(k => k.Value == Known.Undefined)} undefined, {known.Count(k => k.Value == Known.Unsure)} unsure");
        using var api = d.Api();
        var listed = JsonNode.Parse(await api.GetStringAsync("/v1/domains"))!.AsArray()
            .ToDictionary(x => (string)x!["name"]!, x => (State: (string)x!["state"]!, Persistent: (bool)x!["persistent"]!));
        foreach (var (name, k) in known)
        {
            if (k == Known.Defined)
                Assert.True(listed.TryGetValue(name, out var l) && l.Persistent, $"{name}'s definition was acknowledged and is gone ({summary})\n{d.Log}");
            if (k == Known.Undefined)
                Assert.False(listed.TryGetValue(name, out var l) && l.Persistent, $"{name} was undefined and is back as a persistent domain ({summary})");
        }

        // Every QEMU on the host is one the daemon lists as active, one per domain.
        var active = listed.Where(kv => kv.Value.State is "running" or "paused").Select(kv => kv.Key).ToHashSet();
        var onHost = d.QemusOnHost();
        var byName = onHost.GroupBy(QemuName).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(byName.Values.All(n => n == 1), $"a domain runs in more than one QEMU: {string.Join(", ", byName)}");
        Assert.Equal(active.Order(), byName.Keys.Order());
        output.WriteLine($"{active.Count} guests running at the end, each in exactly one QEMU");

        // And the daemon can end every one of them.
        foreach (var name in active)
        {
            using var r = await api.PostAsync($"/v1/domains/{name}/destroy", null);
            Assert.True(r.IsSuccessStatusCode, $"destroy {name}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        }
        Assert.Empty(d.QemusOnHost());
    }

    /// <summary>The domain name a QEMU was started for (its -name guest=NAME,…).</summary>
    private static string QemuName(int pid)
    {
        var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
        var i = Array.IndexOf(argv, "-name");
        var value = argv[i + 1];
        var name = value.StartsWith("guest=", StringComparison.Ordinal) ? value[6..] : value;
        var comma = name.IndexOf(',');
        return comma < 0 ? name : name[..comma];
    }
}
