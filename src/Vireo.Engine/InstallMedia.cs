using Vireo.Host;
using Vireo.Model;

namespace Vireo.Engine;

/// <summary>
/// --location: finds an installer's kernel and initrd inside an ISO, an install tree, or an
/// install tree on an http(s) server (the places the common distributions put them, as
/// virt-install's urldetect knows them) and copies them into the daemon's boot directory for
/// the domain's first run.
/// </summary>
public static class InstallMedia
{
    // One client for every remote tree: made at the first http(s) --location, not at daemon start.
    private static readonly Lazy<HttpClient> Http = new(() => new HttpClient { Timeout = TimeSpan.FromMinutes(30) });


    /// <summary>(distribution, kernel, initrd) in the order they are tried.</summary>
    public static readonly IReadOnlyList<(string Distro, string Kernel, string Initrd)> Known =
    [
        ("debian", "install.amd/vmlinuz", "install.amd/initrd.gz"),
        // A mirror's installer tree (…/dists/bookworm/main/installer-amd64/), as virt-install takes it.
        ("debian", "current/images/netboot/debian-installer/amd64/linux", "current/images/netboot/debian-installer/amd64/initrd.gz"),
        ("ubuntu", "current/legacy-images/netboot/ubuntu-installer/amd64/linux", "current/legacy-images/netboot/ubuntu-installer/amd64/initrd.gz"),
        ("debian", "install/vmlinuz", "install/initrd.gz"),
        ("ubuntu", "casper/vmlinuz", "casper/initrd"),
        ("ubuntu", "casper/vmlinuz", "casper/initrd.gz"),
        ("fedora", "images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"),
        ("opensuse", "boot/x86_64/loader/linux", "boot/x86_64/loader/initrd"),
        ("alpine", "boot/vmlinuz-virt", "boot/initramfs-virt"),
        ("alpine", "boot/vmlinuz-lts", "boot/initramfs-lts"),
        ("arch", "arch/boot/x86_64/vmlinuz-linux", "arch/boot/x86_64/initramfs-linux.img"),
        ("generic", "isolinux/vmlinuz", "isolinux/initrd.img"),
        ("generic", "boot/vmlinuz", "boot/initrd.img"),
        ("generic", "vmlinuz", "initrd.img"),
    ];

    public sealed record Found(string Distro, string KernelInside, string InitrdInside, bool IsDirectory);

    /// <summary>Where the kernel and initrd are in <paramref name="source"/> (a path or an http(s) URL); an error lists what was looked for.</summary>
    public static async Task<Found> LocateAsync(string source, string? kernel, string? initrd, CancellationToken ct)
    {
        if (!LocationPlan.IsRemote(source)) return Locate(source, kernel, initrd);
        var root = TreeRoot(source);
        async Task<bool> Exists(string inside)
        {
            // Once more on a fresh connection when a request fails: a mirror (or a proxy) may drop a
            // kept-alive connection between two of the dozen HEADs this makes.
            for (var attempt = 1; ; attempt++)
            {
                try { return (await HeadAsync(new Uri(root, inside), ct)).Found; }
                catch (HttpRequestException e) when (attempt < 2 && e.HttpRequestError != HttpRequestError.NameResolutionError)
                {
                    await Task.Delay(200, ct);
                }
                catch (HttpRequestException e)
                {
                    var why = e.InnerException is { } inner && !e.Message.Contains(inner.Message) ? $"{e.Message} ({inner.Message})" : e.Message;
                    throw new VireoException(ErrorCode.InvalidArgument, $"Cannot reach --location '{source}': {why}; check the URL and that the server is up.");
                }
            }
        }
        return await PickAsync(source, kernel, initrd, dir: true, Exists);
    }

    /// <summary>Whether a file is on the server, and its length if the server says: HEAD, or GET (headers only) when HEAD is refused (405).</summary>
    private static async Task<(bool Found, long? Length)> HeadAsync(Uri url, CancellationToken ct)
    {
        using var head = await Http.Value.SendAsync(new HttpRequestMessage(HttpMethod.Head, url), HttpCompletionOption.ResponseHeadersRead, ct);
        if (head.StatusCode != System.Net.HttpStatusCode.MethodNotAllowed)
            return (head.IsSuccessStatusCode, head.Content.Headers.ContentLength);
        using var get = await Http.Value.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);
        return (get.IsSuccessStatusCode, get.Content.Headers.ContentLength);
    }

    /// <summary>A remote tree's address as a base for relative paths (ending in '/').</summary>
    private static Uri TreeRoot(string source)
    {
        if (!Uri.TryCreate(source.EndsWith('/') ? source : source + "/", UriKind.Absolute, out var root))
            throw new VireoException(ErrorCode.InvalidArgument, $"--location '{source}' is not a valid URL.");
        return root;
    }

    /// <summary>The first known (or the named) kernel and initrd that <paramref name="exists"/> finds.</summary>
    private static async Task<Found> PickAsync(string source, string? kernel, string? initrd, bool dir, Func<string, Task<bool>> exists)
    {
        if (kernel is not null || initrd is not null)
        {
            if (kernel is null || initrd is null)
                throw new VireoException(ErrorCode.InvalidArgument, "--location: give both kernel= and initrd= (paths inside the ISO or tree), or neither.");
            foreach (var p in new[] { kernel, initrd })
                if (!await exists(p.TrimStart('/')))
                    throw new VireoException(ErrorCode.InvalidArgument, $"--location '{source}' has no file '{p}'.");
            return new Found("custom", kernel.TrimStart('/'), initrd.TrimStart('/'), dir);
        }
        foreach (var (distro, k, i) in Known)
            if (await exists(k) && await exists(i)) return new Found(distro, k, i, dir);
        throw new VireoException(ErrorCode.InvalidArgument,
            $"--location '{source}' holds no installer kernel and initrd Vireo knows (looked for {string.Join(", ", Known.Select(x => x.Kernel).Distinct())}); name them with --location {source},kernel=PATH,initrd=PATH.");
    }

    /// <summary>
    /// The installer kernel's command line for a remote tree: the installers that do not find
    /// their packages by themselves are told where the tree is, as virt-install does (Fedora's
    /// anaconda: inst.repo=; openSUSE's linuxrc: install=), unless the user already said.
    /// </summary>
    public static string? Cmdline(string source, Found f, string? extraArgs)
    {
        if (!LocationPlan.IsRemote(source)) return extraArgs;
        var arg = f.Distro switch { "fedora" => "inst.repo", "opensuse" => "install", _ => null };
        if (arg is null || (extraArgs ?? "").Split(' ').Any(a => a.StartsWith(arg + "=", StringComparison.Ordinal))) return extraArgs;
        return $"{extraArgs} {arg}={source}".Trim();
    }

    /// <summary>Where the kernel and initrd are in a local ISO or tree; an error lists what was looked for.</summary>
    public static Found Locate(string source, string? kernel, string? initrd)
    {
        bool dir = Directory.Exists(source);
        if (!dir && !File.Exists(source))
            throw new VireoException(ErrorCode.InvalidArgument, $"--location '{source}' does not exist; give an ISO file or an install tree directory.");
        Func<string, bool> exists;
        Iso9660.Image? image = null;
        Stream? stream = null;
        try
        {
            if (dir) exists = p => File.Exists(Path.Combine(source, p));
            else
            {
                stream = File.OpenRead(source);
                try { image = Iso9660.Image.Open(stream); }
                catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
                {
                    throw new VireoException(ErrorCode.InvalidArgument, $"--location '{source}' is {e.Message}; give an installer ISO or an install tree directory.");
                }
                exists = p => image.Find(p) is { IsDirectory: false };
            }
            // Synchronous underneath: a local lookup never waits.
            return PickAsync(source, kernel, initrd, dir, p => Task.FromResult(exists(p))).GetAwaiter().GetResult();
        }
        finally { stream?.Dispose(); }
    }

    /// <summary>
    /// Copies (from a remote tree: downloads, reporting the percent of both files' bytes) the
    /// kernel and initrd into <paramref name="destDir"/> as vmlinuz and initrd; returns their
    /// paths. A failed download leaves no directory behind.
    /// </summary>
    public static async Task<(string Kernel, string Initrd)> ExtractAsync(string source, Found f, string destDir, CancellationToken ct, IProgress<double>? progress = null)
    {
        if (!LocationPlan.IsRemote(source)) return Extract(source, f, destDir);
        Directory.CreateDirectory(destDir);
        var root = TreeRoot(source);
        var (kernel, initrd) = (Path.Combine(destDir, "vmlinuz"), Path.Combine(destDir, "initrd"));
        try
        {
            // One file after the other; the total the progress is a percent of comes from HEAD
            // (no progress when a server does not say a length).
            var files = new[] { (Url: new Uri(root, f.KernelInside), To: kernel), (Url: new Uri(root, f.InitrdInside), To: initrd) };
            long total = 0;
            foreach (var (url, _) in files)
                total = total >= 0 && await HeadAsync(url, ct) is (true, { } n) ? total + n : -1;
            long done = 0;
            var buf = new byte[1 << 16];
            foreach (var (url, to) in files)
            {
                using var r = await Http.Value.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);
                if (!r.IsSuccessStatusCode)
                    throw new VireoException(ErrorCode.OperationFailed, $"Cannot download {url}: the server answered {(int)r.StatusCode} {r.ReasonPhrase}.");
                await using var body = await r.Content.ReadAsStreamAsync(ct);
                await using var file = File.Create(to);
                int n;
                while ((n = await body.ReadAsync(buf, ct)) > 0)
                {
                    await file.WriteAsync(buf.AsMemory(0, n), ct);
                    done += n;
                    if (total > 0) progress?.Report(Math.Min(100.0, 100.0 * done / total));
                }
            }
        }
        catch (Exception e) when (e is HttpRequestException or IOException or VireoException or OperationCanceledException)
        {
            try { Directory.Delete(destDir, recursive: true); } catch (IOException) { }
            if (e is VireoException or OperationCanceledException) throw;
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot download the installer's kernel and initrd from '{source}': {e.Message}; check that the server is up, then run the install again.");
        }
        return (kernel, initrd);
    }

    /// <summary>Copies the kernel and initrd out of a local ISO or tree into <paramref name="destDir"/> as vmlinuz and initrd; returns their paths.</summary>
    public static (string Kernel, string Initrd) Extract(string source, Found f, string destDir)
    {
        Directory.CreateDirectory(destDir);
        var kernel = Path.Combine(destDir, "vmlinuz");   // the names /v1/install/location reports
        var initrd = Path.Combine(destDir, "initrd");
        try
        {
            if (f.IsDirectory)
            {
                File.Copy(Path.Combine(source, f.KernelInside), kernel, overwrite: true);
                File.Copy(Path.Combine(source, f.InitrdInside), initrd, overwrite: true);
            }
            else
            {
                using var s = File.OpenRead(source);
                var img = Iso9660.Image.Open(s);
                using (var k = File.Create(kernel)) img.CopyFile(f.KernelInside, k);
                using (var i = File.Create(initrd)) img.CopyFile(f.InitrdInside, i);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { Directory.Delete(destDir, recursive: true); } catch (IOException) { }
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot copy the installer's kernel out of '{source}': {e.Message}");
        }
        return (kernel, initrd);
    }
}
