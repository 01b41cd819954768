using Vireo.Host;

namespace Vireo.Engine;

/// <summary>
/// --location: finds an installer's kernel and initrd inside an ISO or an install tree (the
/// places the common distributions put them, as virt-install's urldetect knows them) and
/// copies them into the daemon's boot directory for the domain's first run.
/// </summary>
public static class InstallMedia
{
    /// <summary>(distribution, kernel, initrd) in the order they are tried.</summary>
    public static readonly IReadOnlyList<(string Distro, string Kernel, string Initrd)> Known =
    [
        ("debian", "install.amd/vmlinuz", "install.amd/initrd.gz"),
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

    /// <summary>Where the kernel and initrd are in <paramref name="source"/>; an error lists what was looked for.</summary>
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
            if (kernel is not null || initrd is not null)
            {
                if (kernel is null || initrd is null)
                    throw new VireoException(ErrorCode.InvalidArgument, "--location: give both kernel= and initrd= (paths inside the ISO or tree), or neither.");
                foreach (var p in new[] { kernel, initrd })
                    if (!exists(p.TrimStart('/')))
                        throw new VireoException(ErrorCode.InvalidArgument, $"--location '{source}' has no file '{p}'.");
                return new Found("custom", kernel.TrimStart('/'), initrd.TrimStart('/'), dir);
            }
            foreach (var (distro, k, i) in Known)
                if (exists(k) && exists(i)) return new Found(distro, k, i, dir);
            throw new VireoException(ErrorCode.InvalidArgument,
                $"--location '{source}' holds no installer kernel and initrd Vireo knows (looked for {string.Join(", ", Known.Select(x => x.Kernel).Distinct())}); name them with --location {source},kernel=PATH,initrd=PATH.");
        }
        finally { stream?.Dispose(); }
    }

    /// <summary>Copies the kernel and initrd into <paramref name="destDir"/> as vmlinuz and initrd; returns their paths.</summary>
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
