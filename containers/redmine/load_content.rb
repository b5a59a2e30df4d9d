# Loads webserv's generated content (content.json, see webserv/sites/redmine/content.py)
# into a freshly migrated Redmine with its default data. Rows go in with insert_all: no
# validations or callbacks, so the ids, dates and counts are exactly those generated.
# Redmine's default data goes first; content names its trackers, statuses, priorities and
# roles, mapped to their ids here.
#
#   bundle exec rails runner load_content.rb /data/seed/content.json
require 'json'

content = JSON.parse(File.read(ARGV.fetch(0)))
conn = ActiveRecord::Base.connection

# Redmine's English default data: trackers, statuses, priorities, roles and workflows.
Redmine::DefaultData::Loader.load('en')

trackers = Tracker.pluck(:name, :id).to_h
statuses = IssueStatus.pluck(:name, :id).to_h
priorities = IssuePriority.pluck(:name, :id).to_h
roles = Role.pluck(:name, :id).to_h

def insert(model, rows)
  rows.each_slice(2000) { |slice| model.insert_all!(slice) } unless rows.empty?
end

ActiveRecord::Base.transaction do
  admin = content.fetch('admin')
  User.where(id: 1).update_all(
    login: admin['login'], firstname: admin['firstname'], lastname: admin['lastname'],
    salt: admin['salt'], hashed_password: admin['hashed_password'],
    must_change_passwd: false, language: 'en', passwd_changed_on: admin['created_on']
  )
  EmailAddress.where(user_id: 1).update_all(address: admin['mail'])
  Token.where(user_id: 1, action: 'api').delete_all
  insert(Token, [{ user_id: 1, action: 'api', value: admin['api_key'],
                   created_on: admin['created_on'], updated_on: admin['created_on'] }])

  users = content.fetch('users')
  insert(User, users.map do |u|
    { id: u['id'], login: u['login'], firstname: u['firstname'], lastname: u['lastname'],
      salt: u['salt'], hashed_password: u['hashed_password'], admin: false, status: 1,
      language: 'en', type: 'User', mail_notification: 'only_my_events',
      must_change_passwd: false, passwd_changed_on: u['created_on'],
      created_on: u['created_on'], updated_on: u['created_on'] }
  end)
  insert(EmailAddress, users.map do |u|
    { user_id: u['id'], address: u['mail'], is_default: true, notify: true,
      created_on: u['created_on'], updated_on: u['created_on'] }
  end)

  projects = content.fetch('projects')
  insert(Project, projects.map do |p|
    { id: p['id'], name: p['name'], identifier: p['identifier'],
      description: p['description'], homepage: '', is_public: p['is_public'],
      parent_id: p['parent_id'], lft: p['lft'], rgt: p['rgt'], status: 1,
      inherit_members: false, created_on: p['created_on'], updated_on: p['created_on'] }
  end)
  insert(EnabledModule, projects.flat_map do |p|
    p['modules'].map { |name| { project_id: p['id'], name: name } }
  end)
  tracker_rows = projects.flat_map do |p|
    p['trackers'].map { |name| { project_id: p['id'], tracker_id: trackers.fetch(name) } }
  end
  tracker_rows.each_slice(2000) do |slice|
    values = slice.map { |r| "(#{r[:project_id]}, #{r[:tracker_id]})" }.join(', ')
    conn.execute("INSERT INTO projects_trackers (project_id, tracker_id) VALUES #{values}")
  end

  members = content.fetch('members')
  insert(Member, members.map do |m|
    { id: m['id'], user_id: m['user_id'], project_id: m['project_id'],
      created_on: m['created_on'], mail_notification: false }
  end)
  insert(MemberRole, members.flat_map do |m|
    m['roles'].map { |name| { member_id: m['id'], role_id: roles.fetch(name) } }
  end)

  insert(IssueCategory, content.fetch('categories').map do |c|
    { id: c['id'], project_id: c['project_id'], name: c['name'],
      assigned_to_id: c['assigned_to_id'] }
  end)
  insert(Version, content.fetch('versions').map do |v|
    { id: v['id'], project_id: v['project_id'], name: v['name'],
      description: v['description'], effective_date: v['effective_date'],
      status: v['status'], sharing: 'none', wiki_page_title: '',
      created_on: v['created_on'], updated_on: v['created_on'] }
  end)

  insert(Issue, content.fetch('issues').map do |i|
    { id: i['id'], project_id: i['project_id'], tracker_id: trackers.fetch(i['tracker']),
      status_id: statuses.fetch(i['status']), priority_id: priorities.fetch(i['priority']),
      subject: i['subject'], description: i['description'], author_id: i['author_id'],
      assigned_to_id: i['assigned_to_id'], category_id: i['category_id'],
      fixed_version_id: i['fixed_version_id'], start_date: i['start_date'],
      due_date: i['due_date'], done_ratio: i['done_ratio'],
      estimated_hours: i['estimated_hours'], lock_version: 0, is_private: false,
      root_id: i['id'], lft: 1, rgt: 2, parent_id: nil,
      created_on: i['created_on'], updated_on: i['updated_on'], closed_on: i['closed_on'] }
  end)

  journals = content.fetch('journals')
  insert(Journal, journals.map do |j|
    { id: j['id'], journalized_id: j['issue_id'], journalized_type: 'Issue',
      user_id: j['user_id'], notes: j['notes'], private_notes: false,
      created_on: j['created_on'] }
  end)
  # Details name statuses, priorities and users the way Redmine stores them: by id.
  insert(JournalDetail, journals.flat_map do |j|
    j['details'].map do |d|
      ids = d['prop_key'] == 'status_id' ? statuses : nil
      old_value = ids ? ids.fetch(d['old_value']) : d['old_value']
      value = ids ? ids.fetch(d['value']) : d['value']
      { journal_id: j['id'], property: 'attr', prop_key: d['prop_key'],
        old_value: old_value&.to_s, value: value&.to_s }
    end
  end)

  insert(Wiki, content.fetch('wikis').map do |w|
    { id: w['id'], project_id: w['project_id'], start_page: w['start_page'], status: 1 }
  end)
  pages = content.fetch('wiki_pages')
  insert(WikiPage, pages.map do |p|
    { id: p['id'], wiki_id: p['wiki_id'], title: p['title'], parent_id: p['parent_id'],
      protected: false, created_on: p['created_on'] }
  end)
  insert(WikiContent, pages.map do |p|
    { id: p['id'], page_id: p['id'], author_id: p['author_id'], text: p['text'],
      comments: '', version: 1, updated_on: p['created_on'] }
  end)
  insert(WikiContentVersion, pages.map do |p|
    { wiki_content_id: p['id'], page_id: p['id'], author_id: p['author_id'],
      data: p['text'], compression: '', comments: '', version: 1,
      updated_on: p['created_on'] }
  end)

  insert(Attachment, content.fetch('attachments').map do |a|
    { id: a['id'], container_id: a['issue_id'], container_type: 'Issue',
      filename: a['filename'], disk_filename: a['disk_filename'],
      disk_directory: a['disk_directory'], filesize: a['filesize'],
      content_type: a['content_type'], digest: a['digest'], downloads: 0,
      author_id: a['author_id'], description: a['description'],
      created_on: a['created_on'] }
  end)

  %w[users email_addresses tokens projects enabled_modules members
     member_roles issue_categories versions issues journals journal_details wikis wiki_pages
     wiki_contents wiki_content_versions attachments].each do |table|
    conn.reset_pk_sequence!(table)
  end
end

# Built-in principals Redmine otherwise creates on a first request; made here so every
# instance starts with the same rows.
User.anonymous
GroupAnonymous.load_instance
GroupNonMember.load_instance

content.fetch('settings').each { |name, value| Setting[name] = value }

counts = { projects: Project.count, users: User.where(type: 'User').count,
           issues: Issue.count, journals: Journal.count, wiki_pages: WikiPage.count,
           attachments: Attachment.count }
puts "loaded #{counts.map { |k, v| "#{v} #{k}" }.join(', ')}"
