; Inno Setup 6 script: the Windows installer of YOLO Studio, made from the frozen folder that
; yolo-studio.spec builds on Windows. .github/workflows/desktop-builds.yml runs it:
;   iscc /DAppVersion=0.1.0 /DFrozenDir=..\..\dist\yolo-studio-windows-x86_64 installer\bundle\yolo-studio.iss
; (paths are relative to this script's folder)
; and writes dist\yolo-studio-<version>-windows-x86_64-setup.exe. Per-user by default (no
; administrator needed; the dialog offers all users), a Start menu entry, an optional desktop
; icon and an uninstaller. The app writes only under the user's folders (%APPDATA%,
; %LOCALAPPDATA%), never in {app}, so a read-only Program Files install works.
#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef FrozenDir
  #define FrozenDir "..\..\dist\yolo-studio-windows-x86_64"
#endif

[Setup]
; One AppId for every version: a newer installer upgrades in place (the project database
; migrates itself, studio/state/database.py).
AppId={{5E0C2B7A-6D1F-4C3B-9B8E-7A4F2D1C9E30}
AppName=YOLO Studio
AppVersion={#AppVersion}
AppVerName=YOLO Studio {#AppVersion}
AppPublisher=YOLO Studio
DefaultDirName={autopf}\YOLO Studio
DefaultGroupName=YOLO Studio
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=yolo-studio-{#AppVersion}-windows-x86_64-setup
SetupIconFile=yolo-studio.ico
UninstallDisplayIcon={app}\yolo-studio.exe
; lzma2 over a gigabyte of libraries: "max" packs about as small as "ultra64" in half the time
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#FrozenDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; an upgrade replaces the frozen folder whole: no library of the older version is left behind
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\YOLO Studio"; Filename: "{app}\yolo-studio.exe"
Name: "{autodesktop}\YOLO Studio"; Filename: "{app}\yolo-studio.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\yolo-studio.exe"; Description: "{cm:LaunchProgram,YOLO Studio}"; Flags: nowait postinstall skipifsilent
