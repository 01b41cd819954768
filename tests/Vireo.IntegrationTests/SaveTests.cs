namespace Vireo.IntegrationTests;

/// <summary>save / restore / managedsave of a running test guest, and what a host shutdown does.</summary>
[Collection("vireo")]
public sealed class SaveTests(VireoFixture fx)
{
    [Fact]
    public async Task A_saved_guest_goes_on_where_it_stopped()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var agentPath = Path.Combine(d.Root, "g.agent");
        await d.DefineAsync(d.GuestXml("g", cmdlineExtra: "vireo.agent", devices: GuestAgent.Device(agentPath),
            extra: $"<metadata><vireo:hostShutdown xmlns:vireo='https://vireo.dev/xmlns/domain/1' action='save'/></metadata>"));
        await d.DefineAsync(d.GuestXml("plain"));
        await d.OkAsync("start", "g");
        await d.OkAsync("start", "plain");
        await d.WaitForSerialAsync("g", "VIREO-GUEST-READY");
        using var agent = new GuestAgent(agentPath);
        await agent.StartCounterAsync();
        await Task.Delay(1000);

        // save / restore: the same guest (its tmpfs counter) goes on.
        var before = await agent.CounterAsync();
        var file = Path.Combine(d.Root, "g.save");
        await d.OkAsync("save", "g", file);
        Assert.Equal("shut off (saved)", await d.StateAsync("g"));
        Assert.True(new FileInfo(file).Length > 1 << 20);
        Assert.Equal("Domain restored from " + file + "\n\n", await d.OkAsync("restore", file));
        Assert.StartsWith("running", await d.StateAsync("g"));
        agent.Reset();
        var after = await agent.CounterAsync();
        Assert.True(after >= before, $"counter {before} before save, {after} after restore");
        await d.OkAsync("save", "g", file, "--paused");
        await d.OkAsync("restore", file);
        Assert.Equal("paused (user)", await d.StateAsync("g"));
        await d.OkAsync("resume", "g");

        // managedsave: the next start resumes the guest and the image goes.
        agent.Reset();
        var mark = await agent.CounterAsync();
        await d.OkAsync("managedsave", "g");
        Assert.Equal("shut off (saved)", await d.StateAsync("g"));
        Assert.True(File.Exists(Path.Combine(d.DataDir, "save", "g.save")));
        await d.OkAsync("start", "g");
        agent.Reset();
        Assert.True(await agent.CounterAsync() >= mark);
        Assert.False(File.Exists(Path.Combine(d.DataDir, "save", "g.save")));

        // A host shutdown saves the guest that asks for it and shuts the other down.
        var shut = await d.OkAsync("host-shutdown", "--timeout", "60");
        Assert.Contains("g: save: state saved; the next start resumes it", shut);
        Assert.Contains("plain: shutdown: shut down", shut);
        Assert.Equal("shut off (saved)", await d.StateAsync("g"));
        Assert.Equal("shut off (shutdown)", await d.StateAsync("plain"));
        await d.OkAsync("start", "g");
        agent.Reset();
        Assert.True(await agent.CounterAsync() >= mark);
        await d.OkAsync("destroy", "g");

        // Bad input.
        var notSave = Path.Combine(d.Root, "not-a-save");
        await File.WriteAllTextAsync(notSave, "just some text, longer than a header\n");
        Assert.Equal($"error: '{notSave}' is not a Vireo save file (made by 'vireo save' or managedsave).\n", await d.FailAsync("restore", notSave));
        Assert.Equal("error: Domain 'g' is not running; there is no state to save.\n", await d.FailAsync("save", "g", file));
        Assert.Equal("error: Domain 'g' has no managed save image.\n", await d.FailAsync("managedsave-remove", "g"));
    }
}
