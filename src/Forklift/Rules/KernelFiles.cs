namespace Forklift.Rules;

/// <summary>
/// Reads of /proc, /sys and cgroup files that may vanish or be unreadable at any moment (a process exits, a
/// cgroup is removed, the caller is unprivileged): such a read is an absent fact, not an error.
/// </summary>
internal static class KernelFiles
{
    /// <summary>The file's text, or <paramref name="fallback"/> when it cannot be read.</summary>
    public static string ReadOr(string path, string fallback = "")
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return fallback;
        }
    }

    /// <summary>The subdirectories, or none when the directory cannot be listed.</summary>
    public static IEnumerable<string> Directories(string path)
    {
        try
        {
            return Directory.GetDirectories(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
